using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Bethrou.Proxy.Socks5;
using Bethrou.Proxy.Tunnel;

namespace Bethrou.Proxy.Tests.Tunnel;

public class DirectTunnelConnectorTests
{
    [Fact]
    public async Task Connects_by_address_and_by_name()
    {
        await using var origin = TestOrigin.Echo();
        var connector = new DirectTunnelConnector();
        foreach (var destination in new[]
                 {
                     Socks5Destination.FromEndPoint(origin.EndPoint),
                     Socks5Destination.FromDomain("localhost", (ushort)origin.Port),
                 })
        {
            var result = await connector.ConnectAsync(destination, CancellationToken.None);
            Assert.True(result.Succeeded, result.ToString());
            Assert.Equal(Socks5ReplyCode.Succeeded, result.ReplyCode);
            Assert.NotNull(result.Bound);
            Assert.Equal(Socks5AddressType.IPv4, result.Bound!.AddressType); // IPv4-mapped is reported as IPv4
            await result.Transport.Output.WriteAsync("abc"u8.ToArray());
            await result.Transport.Output.CompleteAsync();
            var read = await result.Transport.Input.ReadAtLeastAsync(3);
            Assert.Equal("abc"u8.ToArray(), read.Buffer.ToArray());
            result.Transport.Input.AdvanceTo(read.Buffer.End);
            await result.Owner.DisposeAsync();
        }
    }

    [Fact]
    public async Task Refused_maps_to_0x05()
    {
        int port;
        using (var probe = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var result = await new DirectTunnelConnector().ConnectAsync(
            Socks5Destination.FromAddress(IPAddress.Loopback, (ushort)port), CancellationToken.None);
        Assert.False(result.Succeeded);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, result.ReplyCode);
        Assert.StartsWith($"connect to 127.0.0.1:{port}: ConnectionRefused", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_host_maps_to_0x04()
    {
        var result = await new DirectTunnelConnector(new DirectTunnelConnectorOptions { ConnectTimeout = TimeSpan.FromSeconds(20) })
            .ConnectAsync(Socks5Destination.FromDomain("no-such-host.invalid", 80), CancellationToken.None);
        Assert.False(result.Succeeded);
        Assert.Equal(Socks5ReplyCode.HostUnreachable, result.ReplyCode);
    }

    [Fact]
    public async Task Caller_cancellation_throws()
    {
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await new DirectTunnelConnector()
            .ConnectAsync(Socks5Destination.FromDomain("localhost", 1), new CancellationToken(true)));
    }

    [Theory]
    [InlineData(SocketError.ConnectionRefused, Socks5ReplyCode.ConnectionRefused)]
    [InlineData(SocketError.HostNotFound, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.HostUnreachable, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.TimedOut, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.NetworkUnreachable, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(SocketError.AccessDenied, Socks5ReplyCode.ConnectionNotAllowed)]
    [InlineData(SocketError.AddressFamilyNotSupported, Socks5ReplyCode.AddressTypeNotSupported)]
    [InlineData(SocketError.SocketError, Socks5ReplyCode.GeneralFailure)]
    public void Socket_errors_map_to_reply_codes(SocketError error, Socks5ReplyCode expected)
        => Assert.Equal(expected, DirectTunnelConnector.MapSocketError(error));

    [Fact]
    public void Result_factories_validate()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TunnelConnectResult.Failure(Socks5ReplyCode.Succeeded, "x"));
        var failure = TunnelConnectResult.Failure(Socks5ReplyCode.ConnectionRefused, "nope");
        Assert.False(failure.Succeeded);
        Assert.Equal("ConnectionRefused: nope", failure.ToString());
    }
}
