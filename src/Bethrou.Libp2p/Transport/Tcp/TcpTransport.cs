using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Transport.Tcp;

/// <summary>A raw (not yet upgraded) TCP connection.</summary>
public sealed class RawConnection : IAsyncDisposable
{
    internal RawConnection(SocketPipe pipe, Multiaddress local, Multiaddress remote, bool outbound)
    {
        Pipe = pipe;
        LocalAddress = local;
        RemoteAddress = remote;
        IsOutbound = outbound;
    }

    public SocketPipe Pipe { get; }

    public Multiaddress LocalAddress { get; }

    public Multiaddress RemoteAddress { get; }

    public bool IsOutbound { get; }

    public ValueTask DisposeAsync() => Pipe.DisposeAsync();
}

/// <summary>TCP over IPv4 and IPv6 (and dns/dns4/dns6 names when dialling).</summary>
public static class TcpTransport
{
    public static bool CanDial(Multiaddress address) =>
        !address.IsRelayed && address.GetTcpEndpoint() is not null &&
        address.Components.Skip(2).All(c => c.Protocol == MultiaddressProtocol.P2p);

    /// <exception cref="IOException">Connection failure with the address in the message.</exception>
    public static async ValueTask<RawConnection> DialAsync(Multiaddress address, CancellationToken ct)
    {
        var ep = address.GetTcpEndpoint() ?? throw new ArgumentException($"not a TCP multiaddr: {address}", nameof(address));
        IPAddress[] candidates;
        if (ep.HostProtocol == MultiaddressProtocol.Ip4 || ep.HostProtocol == MultiaddressProtocol.Ip6)
        {
            candidates = [IPAddress.Parse(ep.Host)];
        }
        else
        {
            var family = ep.HostProtocol == MultiaddressProtocol.Dns4 ? AddressFamily.InterNetwork
                : ep.HostProtocol == MultiaddressProtocol.Dns6 ? AddressFamily.InterNetworkV6 : AddressFamily.Unspecified;
            try
            {
                candidates = await Dns.GetHostAddressesAsync(ep.Host, family, ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new IOException($"tcp: cannot resolve {ep.Host}: {e.Message}", e);
            }
            if (candidates.Length == 0)
            {
                throw new IOException($"tcp: {ep.Host} has no addresses");
            }
        }
        Exception? last = null;
        foreach (var ip in candidates)
        {
            var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(ip, ep.Port), ct).ConfigureAwait(false);
                var pipe = new SocketPipe(socket);
                return new RawConnection(pipe, Multiaddress.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!),
                    Multiaddress.FromTcpEndPoint((IPEndPoint)socket.RemoteEndPoint!), outbound: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = new IOException($"tcp: connect to {ip}:{ep.Port} failed: {e.SocketErrorCode}", e);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <exception cref="IOException">Bind failure (address in use, not available) with the address in the message.</exception>
    public static TcpConnectionListener Listen(Multiaddress address)
    {
        var ep = address.GetTcpEndpoint();
        if (ep is null || (ep.Value.HostProtocol != MultiaddressProtocol.Ip4 && ep.Value.HostProtocol != MultiaddressProtocol.Ip6))
        {
            throw new ArgumentException($"can only listen on /ip4|ip6/…/tcp/… addresses, not {address}", nameof(address));
        }
        var ip = IPAddress.Parse(ep.Value.Host);
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }
            socket.Bind(new IPEndPoint(ip, ep.Value.Port));
            socket.Listen(512);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var what = e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : e.SocketErrorCode.ToString();
            throw new IOException($"tcp: cannot listen on {address}: {what}", e);
        }
        return new TcpConnectionListener(socket);
    }
}

public sealed class TcpConnectionListener : IAsyncDisposable
{
    private readonly Socket _socket;

    internal TcpConnectionListener(Socket socket)
    {
        _socket = socket;
        LocalAddress = Multiaddress.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!);
    }

    /// <summary>The bound address with the real port (port 0 resolved).</summary>
    public Multiaddress LocalAddress { get; }

    /// <summary>Accepts the next connection; null once the listener is closed.</summary>
    public async ValueTask<RawConnection?> AcceptAsync(CancellationToken ct)
    {
        while (true)
        {
            Socket s;
            try
            {
                s = await _socket.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted)
            {
                return null;
            }
            catch (SocketException)
            {
                continue; // e.g. ECONNABORTED for one client; keep serving others
            }
            try
            {
                return new RawConnection(new SocketPipe(s), Multiaddress.FromTcpEndPoint((IPEndPoint)s.LocalEndPoint!),
                    Multiaddress.FromTcpEndPoint((IPEndPoint)s.RemoteEndPoint!), outbound: false);
            }
            catch (SocketException)
            {
                s.Dispose();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
