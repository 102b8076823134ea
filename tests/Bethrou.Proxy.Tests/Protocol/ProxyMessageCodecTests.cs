using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Bethrou.Libp2p.Transport;
using Bethrou.Proxy.Protocol;

namespace Bethrou.Proxy.Tests.Protocol;

public sealed class ProxyMessageCodecTests
{
    private static byte[] Encode(ProxyResponse r)
    {
        var w = new ArrayBufferWriter<byte>();
        ProxyMessageCodec.WriteResponse(w, r);
        return w.WrittenSpan.ToArray();
    }

    private static byte[] Encode(ProxyRequest r)
    {
        var w = new ArrayBufferWriter<byte>();
        ProxyMessageCodec.WriteRequest(w, r);
        return w.WrittenSpan.ToArray();
    }

    private static string Text(byte[] b) => Encoding.UTF8.GetString(b);

    [Fact]
    public void Ok_response_is_exactly_the_go_bytes()
    {
        Assert.Equal("{\"status\":\"ok\"}\n", Text(Encode(ProxyResponse.Ok)));
    }

    [Fact]
    public void Error_response_carries_go_fields_then_code()
    {
        var bytes = Encode(ProxyResponse.Error(ProxyErrorCode.ConnectionRefused, "dial tcp 1.2.3.4:443: connect: connection refused"));
        Assert.Equal(
            "{\"status\":\"error\",\"message\":\"dial tcp 1.2.3.4:443: connect: connection refused\",\"code\":\"connection_refused\"}\n",
            Text(bytes));
    }

    [Fact]
    public void Requests_match_go_v1_and_v2_encodings()
    {
        Assert.Equal("{\"address\":\"example.com:443\"}\n", Text(Encode(new ProxyRequest("example.com:443"))));
        Assert.Equal("{\"address\":\"example.com:443\",\"connect_timeout_ms\":9998}\n",
            Text(Encode(new ProxyRequest("example.com:443", 9998))));
        Assert.Equal("{\"address\":\"[2001:db8::1]:443\"}\n", Text(Encode(new ProxyRequest("[2001:db8::1]:443"))));
    }

    [Theory]
    [InlineData("{\"address\":\"example.com:443\"}\n", "example.com:443", null)]
    [InlineData("{\"address\":\"example.com:443\",\"connect_timeout_ms\":9998}\n", "example.com:443", 9998L)]
    [InlineData("{\"connect_timeout_ms\":1,\"address\":\"1.2.3.4:80\"}\r\n", "1.2.3.4:80", 1L)]
    [InlineData("{\"address\":\"a:1\",\"connect_timeout_ms\":null,\"extra\":{\"x\":[1,2]}}\n", "a:1", null)]
    [InlineData("  {\"address\" : \"a:1\"}  \n", "a:1", null)]
    public void Decodes_go_style_requests(string line, string address, long? timeout)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line));
        Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadRequest(ref buffer, out var request, out var error));
        Assert.Null(error);
        Assert.Equal(address, request.Address);
        Assert.Equal(timeout, request.ConnectTimeoutMs);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Decodes_go_error_response_without_code()
    {
        var buffer = new ReadOnlySequence<byte>("{\"status\":\"error\",\"message\":\"dial tcp: lookup x: no such host\"}\n"u8.ToArray());
        Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadResponse(ref buffer, out var response, out _));
        Assert.False(response.IsOk);
        Assert.Null(response.Code);
        Assert.Equal(ProxyErrorCode.HostUnreachable, response.ErrorCode);
    }

    [Fact]
    public void Round_trips_every_code()
    {
        foreach (var code in Enum.GetValues<ProxyErrorCode>())
        {
            var buffer = new ReadOnlySequence<byte>(Encode(ProxyResponse.Error(code, "x")));
            Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadResponse(ref buffer, out var r, out _));
            Assert.Equal(code, r.ErrorCode);
        }
    }

    [Fact]
    public void Bytes_after_the_newline_stay_in_the_buffer()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"status\":\"ok\"}\nGET / HTTP/1.1\r\n");
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadResponse(ref buffer, out var r, out _));
        Assert.True(r.IsOk);
        Assert.Equal("GET / HTTP/1.1\r\n", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public void Split_at_every_byte_boundary_needs_more_data_then_decodes()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"address\":\"example.com:443\",\"connect_timeout_ms\":9998}\nTAIL");
        var lineLength = Array.IndexOf(bytes, (byte)'\n') + 1;
        for (var cut = 0; cut < lineLength; cut++)
        {
            var prefix = new ReadOnlySequence<byte>(bytes, 0, cut);
            Assert.Equal(ProxyFrameStatus.NeedMoreData, ProxyMessageCodec.TryReadRequest(ref prefix, out _, out var e));
            Assert.Null(e);
            Assert.Equal(cut, prefix.Length);

            var whole = TestSequence.Split(bytes, cut);
            Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadRequest(ref whole, out var request, out _));
            Assert.Equal("example.com:443", request.Address);
            Assert.Equal(9998, request.ConnectTimeoutMs);
            Assert.Equal("TAIL", Encoding.UTF8.GetString(whole.ToArray()));
        }
    }

    [Fact]
    public void One_byte_segments_decode()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"status\":\"error\",\"message\":\"m\",\"code\":\"timeout\"}\nX");
        var buffer = TestSequence.OneBytePerSegment(bytes);
        Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadResponse(ref buffer, out var r, out _));
        Assert.Equal(ProxyErrorCode.Timeout, r.ErrorCode);
        Assert.Equal("m", r.Message);
        Assert.Equal(1, buffer.Length);
    }

    [Fact]
    public void Oversized_line_without_newline_is_too_long()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"address\":\"" + new string('a', ProxyMessageCodec.MaxLineLength) + ":1\"}\n");
        var buffer = new ReadOnlySequence<byte>(bytes, 0, ProxyMessageCodec.MaxLineLength);
        Assert.Equal(ProxyFrameStatus.TooLong, ProxyMessageCodec.TryReadRequest(ref buffer, out _, out var error));
        Assert.Equal("proxy request line is longer than 4096 bytes", error);

        var shorter = new ReadOnlySequence<byte>(bytes, 0, ProxyMessageCodec.MaxLineLength - 1);
        Assert.Equal(ProxyFrameStatus.NeedMoreData, ProxyMessageCodec.TryReadRequest(ref shorter, out _, out _));
    }

    [Fact]
    public void Line_of_exactly_the_maximum_is_accepted_and_one_more_is_not()
    {
        static byte[] Line(int total)
        {
            var prefix = "{\"address\":\"";
            var suffix = ":1\"}\n";
            return Encoding.UTF8.GetBytes(prefix + new string('a', total - prefix.Length - suffix.Length) + suffix);
        }
        var ok = new ReadOnlySequence<byte>(Line(ProxyMessageCodec.MaxLineLength));
        Assert.Equal(ProxyFrameStatus.Ok, ProxyMessageCodec.TryReadRequest(ref ok, out _, out _));
        var tooLong = new ReadOnlySequence<byte>(Line(ProxyMessageCodec.MaxLineLength + 1));
        Assert.Equal(ProxyFrameStatus.TooLong, ProxyMessageCodec.TryReadRequest(ref tooLong, out _, out _));
    }

    [Theory]
    [InlineData("\n", "proxy request line is empty")]
    [InlineData("garbage\n", "proxy request is not valid JSON: ")]
    [InlineData("[1,2]\n", "proxy request must be a JSON object, not an array")]
    [InlineData("\"x\"\n", "proxy request must be a JSON object, not a string")]
    [InlineData("{}\n", "proxy request has no \"address\"")]
    [InlineData("{\"address\":\"\"}\n", "proxy request has no \"address\"")]
    [InlineData("{\"address\":null}\n", "proxy request has no \"address\"")]
    [InlineData("{\"address\":443}\n", "proxy request field \"address\" must be a string, not a number")]
    [InlineData("{\"address\":\"a:1\",\"connect_timeout_ms\":1.5}\n", "proxy request field \"connect_timeout_ms\" must be an integer number of milliseconds")]
    [InlineData("{\"address\":\"a:1\",\"connect_timeout_ms\":\"5\"}\n", "proxy request field \"connect_timeout_ms\" must be an integer number of milliseconds")]
    [InlineData("{\"address\":\"a:1\"\n", "proxy request is not valid JSON: ")]
    [InlineData("{\"address\":\"a:1\"}{}\n", "proxy request is not valid JSON: ")]
    [InlineData("{\"address\":\"a:1\",}\n", "proxy request is not valid JSON: ")]
    public void Invalid_requests_report_precise_errors(string line, string expected)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line));
        var before = buffer;
        Assert.Equal(ProxyFrameStatus.Invalid, ProxyMessageCodec.TryReadRequest(ref buffer, out _, out var error));
        Assert.StartsWith(expected, error);
        Assert.Equal(before.Length, buffer.Length);
    }

    [Fact]
    public void Invalid_utf8_is_invalid_json()
    {
        byte[] bytes = [.. "{\"address\":\""u8, 0xC3, 0x28, .. ":1\"}\n"u8];
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(ProxyFrameStatus.Invalid, ProxyMessageCodec.TryReadRequest(ref buffer, out _, out var error));
        Assert.StartsWith("proxy request is not valid JSON: ", error);
    }

    [Theory]
    [InlineData("{}\n", "proxy response has no \"status\"")]
    [InlineData("{\"status\":1}\n", "proxy response field \"status\" must be a string, not a number")]
    [InlineData("{\"status\":\"error\",\"message\":{}}\n", "proxy response field \"message\" must be a string, not an object")]
    [InlineData("{\"status\":\"error\",\"code\":true}\n", "proxy response field \"code\" must be a string, not a boolean")]
    [InlineData("HTTP/1.1 200 OK\n", "proxy response is not valid JSON: ")]
    public void Invalid_responses_report_precise_errors(string line, string expected)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line));
        Assert.Equal(ProxyFrameStatus.Invalid, ProxyMessageCodec.TryReadResponse(ref buffer, out _, out var error));
        Assert.StartsWith(expected, error);
    }

    [Fact]
    public async Task Stream_reader_leaves_following_bytes_in_the_pipe()
    {
        var (a, b) = DuplexPipe.CreatePair();
        await a.Output.WriteAsync("{\"address\":\"x:1\"}\nhello"u8.ToArray());
        var request = await ProxyStreamProtocol.ReadRequestAsync(b.Input, CancellationToken.None);
        Assert.Equal("x:1", request.Address);
        var rest = await b.Input.ReadAsync();
        Assert.Equal("hello", Encoding.UTF8.GetString(rest.Buffer.ToArray()));
        b.Input.AdvanceTo(rest.Buffer.End);
    }

    [Fact]
    public async Task Stream_reader_assembles_a_line_from_many_writes()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var read = ProxyStreamProtocol.ReadResponseAsync(b.Input, CancellationToken.None);
        foreach (var ch in "{\"status\":\"ok\"}\n"u8.ToArray())
        {
            await a.Output.WriteAsync(new[] { ch });
        }
        Assert.True((await read).IsOk);
    }

    [Theory]
    [InlineData("", "stream ended before the proxy request")]
    [InlineData("{\"address\":\"x:1\"}", "stream ended after 17 bytes of the proxy request without its terminating newline")]
    public async Task Stream_reader_reports_eof_before_newline(string sent, string expected)
    {
        var (a, b) = DuplexPipe.CreatePair();
        await a.Output.WriteAsync(Encoding.UTF8.GetBytes(sent));
        await a.Output.CompleteAsync();
        var ex = await Assert.ThrowsAsync<ProxyProtocolException>(
            async () => await ProxyStreamProtocol.ReadRequestAsync(b.Input, CancellationToken.None));
        Assert.Equal(expected, ex.Message);
        Assert.Equal(ProxyFrameStatus.NeedMoreData, ex.Status);
    }

    [Fact]
    public async Task Stream_reader_rejects_oversized_line_without_waiting_for_newline()
    {
        var (a, b) = DuplexPipe.CreatePair();
        await a.Output.WriteAsync(new byte[ProxyMessageCodec.MaxLineLength + 10]);
        var ex = await Assert.ThrowsAsync<ProxyProtocolException>(
            async () => await ProxyStreamProtocol.ReadRequestAsync(b.Input, CancellationToken.None));
        Assert.Equal(ProxyFrameStatus.TooLong, ex.Status);
    }

    [Fact]
    public async Task Ping_handler_closes_both_directions()
    {
        var (client, server) = DuplexPipe.CreatePair();
        await BethrouPingHandler.HandleAsync(server, CancellationToken.None);
        var read = await client.Input.ReadAsync();
        Assert.True(read.IsCompleted);
        Assert.True(read.Buffer.IsEmpty);
        var flush = await client.Output.WriteAsync(new byte[] { 1 });
        Assert.True(flush.IsCompleted);
    }
}

internal static class TestSequence
{
    public static ReadOnlySequence<byte> Split(byte[] bytes, int cut)
    {
        if (cut <= 0 || cut >= bytes.Length)
        {
            return new ReadOnlySequence<byte>(bytes);
        }
        var first = new Segment(bytes.AsMemory(0, cut));
        var last = first.Append(bytes.AsMemory(cut));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes)
    {
        var first = new Segment(bytes.AsMemory(0, 1));
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
