using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Proxy.Tunnel;

namespace Bethrou.Proxy.Tests.Tunnel;

public class SocketDuplexPipeTests
{
    private static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var result = await reader.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                ms.Write(segment.Span);
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return ms.ToArray();
            }
        }
    }

    [Fact]
    public async Task Receives_and_sends_with_half_close_both_ways()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();

        await peer.SendAsync("hello"u8.ToArray());
        peer.Shutdown(SocketShutdown.Send); // peer half-closes
        Assert.Equal("hello", Encoding.ASCII.GetString(await ReadToEndAsync(pipe.Input)));

        // Our side can still send after the peer's FIN, then half-closes.
        await pipe.Output.WriteAsync("world"u8.ToArray());
        await pipe.Output.CompleteAsync();
        Assert.Equal("world", Encoding.ASCII.GetString(await TestUtil.ReadToEndAsync(peer)));

        await pipe.Input.CompleteAsync();
        await pipe.Completion;
        Assert.Null(pipe.AbortReason);
        await pipe.DisposeAsync();
    }

    [Fact]
    public async Task Direct_sends_after_a_drain_follow_what_was_written_before()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        var queued = RandomNumberGenerator.GetBytes(300_000); // more than one send: still queued when the drain starts
        await pipe.Output.WriteAsync(queued);
        var reading = TestUtil.ReadToEndAsync(peer);
        await pipe.DrainAsync();
        var direct = RandomNumberGenerator.GetBytes(200_000);
        await pipe.SendDirectAsync(new ReadOnlySequence<byte>(direct));
        await pipe.Output.CompleteAsync(); // FIN after the direct bytes
        var got = await reading;
        Assert.Equal(queued.Concat(direct).ToArray(), got);
        await pipe.Input.CompleteAsync();
        await pipe.DisposeAsync();
    }

    [Fact]
    public async Task Direct_send_to_a_reset_peer_fails_with_an_io_error()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        await pipe.DrainAsync();
        peer.LingerState = new LingerOption(true, 0);
        peer.Close(); // RST
        var chunk = new ReadOnlySequence<byte>(new byte[64 * 1024]);
        await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (var i = 0; i < 1000; i++)
            {
                await pipe.SendDirectAsync(chunk);
            }
        });
        pipe.Abort();
        await pipe.DisposeAsync();
    }

    [Fact]
    public async Task Completing_output_sends_fin_while_receiving_goes_on()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        await using var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        await pipe.Output.WriteAsync("request"u8.ToArray());
        await pipe.Output.CompleteAsync();
        Assert.Equal("request", Encoding.ASCII.GetString(await TestUtil.ReadToEndAsync(peer)));

        var response = RandomNumberGenerator.GetBytes(5 * 1024 * 1024);
        var reading = ReadToEndAsync(pipe.Input);
        await peer.SendAsync(response);
        peer.Shutdown(SocketShutdown.Send);
        Assert.Equal(response, await reading);
    }

    [Fact]
    public async Task Completing_output_with_an_error_resets_the_connection()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        var reason = new TunnelAbortedException("test abort");
        await pipe.Output.CompleteAsync(reason);
        var ex = await Assert.ThrowsAsync<SocketException>(async () => await TestUtil.ReadToEndAsync(peer));
        Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        await pipe.Completion;
        Assert.Same(reason, pipe.AbortReason);
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await pipe.Input.ReadAsync());
        await pipe.DisposeAsync();
    }

    [Fact]
    public async Task Abort_resets_and_fails_both_pipes()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        var pendingRead = pipe.Input.ReadAsync().AsTask();
        pipe.Abort();
        await Assert.ThrowsAsync<TunnelAbortedException>(() => pendingRead);
        var ex = await Assert.ThrowsAsync<SocketException>(async () => await TestUtil.ReadToEndAsync(peer));
        Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        await pipe.Completion;
        await pipe.DisposeAsync();
    }

    [Fact]
    public async Task Peer_reset_fails_input_with_an_IOException()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        await using var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        peer.LingerState = new LingerOption(true, 0);
        peer.Dispose(); // RST
        var ex = await Assert.ThrowsAsync<IOException>(() => ReadToEndAsync(pipe.Input));
        var socketError = Assert.IsType<SocketException>(ex.InnerException);
        Assert.Equal(SocketError.ConnectionReset, socketError.SocketErrorCode);
    }

    [Fact]
    public async Task Dispose_is_graceful_and_ends_a_receive_that_still_waits()
    {
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync();
        using var _ = peer;
        var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var reading = TestUtil.ReadToEndAsync(peer);
        await pipe.Output.WriteAsync(payload);
        // The peer never sends: DisposeAsync must still finish, after everything buffered went out.
        await pipe.DisposeAsync();
        Assert.Equal(payload, await reading);
        await pipe.Completion;
    }

    [Fact]
    public async Task Ipv6_loopback()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return;
        }
        var (peer, local) = await TestUtil.CreateLoopbackPairAsync(AddressFamily.InterNetworkV6);
        using var _ = peer;
        await using var pipe = new SocketDuplexPipe(local);
        pipe.Start();
        await peer.SendAsync("v6"u8.ToArray());
        var result = await pipe.Input.ReadAsync();
        Assert.Equal("v6", Encoding.ASCII.GetString(result.Buffer.ToArray()));
        pipe.Input.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public void Options_are_validated()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Assert.Equal("ReceiveSize", Assert.Throws<ArgumentOutOfRangeException>(
            () => new SocketDuplexPipe(socket, new SocketDuplexPipeOptions { ReceiveSize = 10 })).ParamName);
        Assert.Equal("MaxReceiveBufferSize", Assert.Throws<ArgumentOutOfRangeException>(
            () => new SocketDuplexPipe(socket, new SocketDuplexPipeOptions { ReceiveSize = 65536, MaxReceiveBufferSize = 4096 })).ParamName);
    }
}
