using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Transport.Tcp;

namespace Bethrou.Libp2p.Protocols.Dcutr;

/// <summary>
/// Dials IPv4 TCP from one fixed local port (SO_REUSEADDR + SO_REUSEPORT), so that every peer observes the same
/// NAT mapping for us and a hole-punching dial reuses it. An idle socket bound to the port keeps it reserved.
/// Used for connections to relays and for DCUtR dials; ordinary dials keep ephemeral ports.
/// </summary>
public sealed class ReusePortTcpDialer : IDisposable
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;
    private readonly Socket _anchor;

    private ReusePortTcpDialer(Socket anchor)
    {
        _anchor = anchor;
        Port = ((IPEndPoint)anchor.LocalEndPoint!).Port;
    }

    /// <summary>The local port every dial of this dialer uses.</summary>
    public int Port { get; }

    /// <summary>A dialer on a new port (null where port reuse is unsupported: only Linux is handled).</summary>
    public static ReusePortTcpDialer? TryCreate(int port = 0)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Configure(s);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            return new ReusePortTcpDialer(s);
        }
        catch (SocketException)
        {
            s.Dispose();
            return null;
        }
    }

    private static void Configure(Socket s)
    {
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
    }

    /// <summary>The IPv4 TCP endpoint of /ip4/a.b.c.d/tcp/port[/p2p/id], or null for anything else.</summary>
    public static IPEndPoint? TryGetEndPoint(Multiaddress address)
    {
        if (address.IsRelayed || address.GetTcpEndpoint() is not { HostProtocol: var proto } ep || proto != MultiaddressProtocol.Ip4
            || !address.Components.Skip(2).All(c => c.Protocol == MultiaddressProtocol.P2p))
        {
            return null;
        }
        return new IPEndPoint(IPAddress.Parse(ep.Host), ep.Port);
    }

    /// <summary>Connects from <see cref="Port"/>; null when that port cannot be used for this destination (already
    /// connected there, or in TIME_WAIT) so the caller can fall back to an ordinary dial.</summary>
    /// <exception cref="IOException">The connection failed (refused, unreachable, ...).</exception>
    public async ValueTask<RawConnection?> TryDialAsync(IPEndPoint remote, CancellationToken ct)
    {
        if (remote.AddressFamily != AddressFamily.InterNetwork)
        {
            return null;
        }
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Configure(s);
            s.Bind(new IPEndPoint(IPAddress.Any, Port));
            await s.ConnectAsync(remote, ct).ConfigureAwait(false);
            return new RawConnection(new SocketPipe(s), Multiaddress.FromTcpEndPoint((IPEndPoint)s.LocalEndPoint!),
                Multiaddress.FromTcpEndPoint((IPEndPoint)s.RemoteEndPoint!), outbound: true);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable)
        {
            s.Dispose();
            return null;
        }
        catch (SocketException e)
        {
            s.Dispose();
            throw new IOException($"tcp: connect from port {Port} to {remote} failed: {e.SocketErrorCode}", e);
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    public void Dispose() => _anchor.Dispose();
}
