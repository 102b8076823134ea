using System.Net;
using System.Net.Sockets;

namespace Bethrou.Proxy.Exit;

/// <summary>Turns a destination host name into addresses (A and AAAA). Injectable for tests.</summary>
internal interface IHostResolver
{
    /// <summary>Throws <see cref="SocketException"/> (e.g. <see cref="SocketError.HostNotFound"/>) on failure.</summary>
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The system resolver (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>).</summary>
internal sealed class SystemHostResolver : IHostResolver
{
    public static SystemHostResolver Instance { get; } = new();

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>Opens one TCP connection; injectable so Happy Eyeballs timing can be tested with virtual time.</summary>
internal delegate ValueTask<Socket> TcpConnector(IPEndPoint endPoint, CancellationToken cancellationToken);

internal static class TcpConnectors
{
    /// <summary>A real socket with Nagle off; disposed again when the connect fails or is canceled.</summary>
    public static async ValueTask<Socket> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
