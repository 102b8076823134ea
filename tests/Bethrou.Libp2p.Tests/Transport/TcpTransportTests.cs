using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Transport.Tcp;

namespace Bethrou.Libp2p.Tests.Transport;

public class TcpTransportTests
{
    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/0")]
    [InlineData("/ip6/::1/tcp/0")]
    public async Task DialListenRoundTripWithHalfClose(string listen)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var listener = TcpTransport.Listen(Multiaddress.Parse(listen));
        Assert.NotEqual(0, listener.LocalAddress.GetTcpEndpoint()!.Value.Port);
        var acceptTask = listener.AcceptAsync(cts.Token).AsTask();
        await using var client = await TcpTransport.DialAsync(listener.LocalAddress, cts.Token);
        await using var server = (await acceptTask)!;
        Assert.Equal(client.LocalAddress, server.RemoteAddress);

        var payload = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(payload);
        await client.Pipe.Output.WriteAsync(payload, cts.Token);
        await client.Pipe.Output.CompleteAsync(); // FIN

        var received = await ReadToEndAsync(server.Pipe.Input, cts.Token);
        Assert.Equal(payload, received);

        // The other direction still works after the client's half-close.
        await server.Pipe.Output.WriteAsync("bye"u8.ToArray(), cts.Token);
        await server.Pipe.Output.CompleteAsync();
        Assert.Equal("bye"u8.ToArray(), await ReadToEndAsync(client.Pipe.Input, cts.Token));
    }

    [Fact]
    public async Task DialToClosedPortFailsWithAddressInMessage()
    {
        await using var listener = TcpTransport.Listen(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        var addr = listener.LocalAddress;
        await listener.DisposeAsync();
        var ex = await Assert.ThrowsAsync<IOException>(async () => await TcpTransport.DialAsync(addr, CancellationToken.None));
        Assert.Contains("ConnectionRefused", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListenOnUsedPortFailsClearly()
    {
        await using var listener = TcpTransport.Listen(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        var ex = Assert.Throws<IOException>(() => TcpTransport.Listen(listener.LocalAddress));
        Assert.Contains("address already in use", ex.Message, StringComparison.Ordinal);
    }

    internal static async Task<byte[]> ReadToEndAsync(PipeReader reader, CancellationToken ct)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var r = await reader.ReadAsync(ct);
            foreach (var seg in r.Buffer)
            {
                ms.Write(seg.Span);
            }
            reader.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                return ms.ToArray();
            }
        }
    }
}
