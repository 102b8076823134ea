using System.IO.Pipelines;
using System.Text;
using Bethrou.Libp2p.Multistream;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Proxy.Tests.Client;

public sealed class FastOpenReaderTests
{
    private const string Protocol = ProtocolIds.ProxyKeepsData;

    /// <summary>One multistream message: varint length (all lengths here are below 128), text, newline.</summary>
    private static byte[] Msg(string text) => [(byte)(text.Length + 1), .. Encoding.ASCII.GetBytes(text), (byte)'\n'];

    private static byte[] Answer(string responseLine) =>
        [.. Msg("/multistream/1.0.0"), .. Msg(Protocol), .. Encoding.ASCII.GetBytes(responseLine + "\n")];

    private static async Task<Pipe> PipeWithAsync(byte[] bytes, bool complete)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(bytes);
        if (complete)
        {
            await pipe.Writer.CompleteAsync();
        }
        return pipe;
    }

    [Fact]
    public async Task Answer_is_consumed_and_the_bytes_behind_it_in_the_same_buffer_pass_through()
    {
        var pipe = await PipeWithAsync([.. Answer("{\"status\":\"ok\"}"), .. "HTTP/1.1 200 OK\r\n"u8], complete: false);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(5), TimeProvider.System);

        Assert.False(reader.TryRead(out _)); // nothing is readable before the answer has been checked
        var first = await reader.ReadAsync();
        Assert.Equal("HTTP/1.1 200 OK\r\n", Encoding.ASCII.GetString(first.Buffer));
        reader.AdvanceTo(first.Buffer.End);

        await pipe.Writer.WriteAsync("body"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        Assert.True(reader.TryRead(out var second));
        Assert.Equal("body", Encoding.ASCII.GetString(second.Buffer));
        Assert.True(second.IsCompleted);
        reader.AdvanceTo(second.Buffer.End);
        await reader.CompleteAsync();
    }

    [Fact]
    public async Task Error_response_fails_the_read_with_the_exits_message_and_code()
    {
        var pipe = await PipeWithAsync(
            Answer("{\"status\":\"error\",\"message\":\"destination 127.0.0.1 is loopback; not allowed by this exit node's egress policy\",\"code\":\"not_allowed\"}"),
            complete: true);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(5), TimeProvider.System);

        var e = await Assert.ThrowsAsync<FastOpenRefusedException>(async () => await reader.ReadAsync());
        Assert.Equal(
            "fast open: the exit refused the destination after the SOCKS reply: destination 127.0.0.1 is loopback; not allowed by this exit node's egress policy",
            e.Message);
        Assert.Equal(ProxyErrorCode.NotAllowed, e.Code);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public async Task Refused_protocol_fails_the_read()
    {
        var pipe = await PipeWithAsync([.. Msg("/multistream/1.0.0"), .. Msg("na")], complete: true);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(5), TimeProvider.System);

        var e = await Assert.ThrowsAsync<NegotiationFailedException>(async () => await reader.ReadAsync());
        Assert.Equal($"multistream: the remote refused the protocol '{Protocol}'", e.Message);
    }

    [Fact]
    public async Task Stream_ending_inside_the_response_line_fails_the_read()
    {
        var pipe = await PipeWithAsync([.. Msg("/multistream/1.0.0"), .. Msg(Protocol), .. "{\"status\":"u8], complete: true);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(5), TimeProvider.System);

        var e = await Assert.ThrowsAsync<IOException>(async () => await reader.ReadAsync());
        Assert.Equal(
            "fast open: bad answer from the exit: stream ended after 10 bytes of the proxy response without its terminating newline",
            e.Message);
    }

    [Fact]
    public async Task No_answer_within_the_timeout_fails_the_read()
    {
        var time = new FakeTimeProvider();
        var pipe = await PipeWithAsync(Msg("/multistream/1.0.0"), complete: false);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(12), time);

        var read = reader.ReadAsync().AsTask();
        await Task.Yield();
        Assert.False(read.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(11.9));
        Assert.False(read.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(0.2));
        var e = await Assert.ThrowsAsync<IOException>(() => read);
        Assert.Equal("fast open: the exit did not answer the proxy request within 12 s", e.Message);
    }

    [Fact]
    public async Task Callers_cancellation_is_not_reported_as_a_timeout()
    {
        var pipe = await PipeWithAsync([], complete: false);
        var reader = new FastOpenReader(pipe.Reader, Protocol, TimeSpan.FromSeconds(30), TimeProvider.System);
        using var cts = new CancellationTokenSource();
        var read = reader.ReadAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
    }
}
