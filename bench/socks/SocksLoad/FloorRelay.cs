using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Bench.Socks;

/// <summary>
/// The least a .NET program can do to be a two-process SOCKS5 proxy, as a floor for what .NET itself costs per
/// connection on this machine: `floor-local` answers SOCKS5 (no auth, CONNECT only), replies success at once as
/// ss-local does, opens a new plain TCP connection to `floor-server` per request and sends it the destination
/// (SOCKS5 address form), then copies bytes both ways; `floor-server` reads that address, connects, and copies.
/// No encryption, no multiplexing, no policy, no logging: whatever first-byte latency this has, Bethrou (which adds
/// all of those) cannot beat it with the same runtime. Without `--server`, floor-local connects to the destination
/// itself and replies after the connect (a one-process proxy like microsocks).
/// </summary>
internal static class FloorRelay
{
    public static async Task<int> LocalAsync(Args a)
    {
        var listen = Endpoints.ParseIPv4(a.Str("listen"), "--listen", allowPortZero: true);
        var serverText = a.Str("server", "");
        var server = serverText.Length == 0 ? null : Endpoints.ParseIPv4(serverText, "--server");
        using var listener = Listen(listen);
        Console.WriteLine($"listening {listener.LocalEndPoint}");
        while (true)
        {
            var s = await listener.AcceptAsync().ConfigureAwait(false);
            _ = ServeLocalAsync(s, server);
        }
    }

    public static async Task<int> ServerAsync(Args a)
    {
        var listen = Endpoints.ParseIPv4(a.Str("listen"), "--listen", allowPortZero: true);
        using var listener = Listen(listen);
        Console.WriteLine($"listening {listener.LocalEndPoint}");
        while (true)
        {
            var s = await listener.AcceptAsync().ConfigureAwait(false);
            _ = ServeServerAsync(s);
        }
    }

    private static Socket Listen(IPEndPoint at)
    {
        var l = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        l.Bind(at);
        l.Listen(1024);
        return l;
    }

    private static async Task ServeLocalAsync(Socket app, IPEndPoint? server)
    {
        app.NoDelay = true;
        var buf = new byte[16 * 1024];
        Socket? up = null;
        try
        {
            // greeting: VER NMETHODS METHODS
            await ReadExactlyAsync(app, buf.AsMemory(0, 2)).ConfigureAwait(false);
            if (buf[0] != 5)
            {
                return;
            }
            await ReadExactlyAsync(app, buf.AsMemory(0, buf[1])).ConfigureAwait(false);
            await app.SendAsync(new byte[] { 5, 0 }).ConfigureAwait(false);
            // request: VER CMD RSV ATYP ADDR PORT
            await ReadExactlyAsync(app, buf.AsMemory(0, 4)).ConfigureAwait(false);
            if (buf[1] != 1)
            {
                await app.SendAsync(new byte[] { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 }).ConfigureAwait(false);
                return;
            }
            buf[0] = buf[3];
            var header = await ReadAddressAsync(app, buf).ConfigureAwait(false); // ATYP [LEN] ADDR PORT, as floor-server reads it
            if (header == 0)
            {
                return;
            }
            var success = new byte[] { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
            if (server is null)
            {
                up = await ConnectAsync(buf.AsSpan(0, header).ToArray()).ConfigureAwait(false);
                if (up is null)
                {
                    await app.SendAsync(new byte[] { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 }).ConfigureAwait(false);
                    return;
                }
                await app.SendAsync(success).ConfigureAwait(false);
            }
            else
            {
                await app.SendAsync(success).ConfigureAwait(false);
                up = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await up.ConnectAsync(server).ConfigureAwait(false);
                await up.SendAsync(buf.AsMemory(0, header)).ConfigureAwait(false);
            }
            await PumpAsync(app, up, buf).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or EndOfStreamException)
        {
        }
        finally
        {
            up?.Dispose();
            app.Dispose();
        }
    }

    private static async Task ServeServerAsync(Socket tunnel)
    {
        tunnel.NoDelay = true;
        var buf = new byte[16 * 1024];
        Socket? up = null;
        try
        {
            await ReadExactlyAsync(tunnel, buf.AsMemory(0, 1)).ConfigureAwait(false);
            var header = await ReadAddressAsync(tunnel, buf).ConfigureAwait(false);
            if (header == 0)
            {
                return;
            }
            up = await ConnectAsync(buf.AsSpan(0, header).ToArray()).ConfigureAwait(false);
            if (up is null)
            {
                return;
            }
            await PumpAsync(tunnel, up, buf).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or EndOfStreamException)
        {
        }
        finally
        {
            up?.Dispose();
            tunnel.Dispose();
        }
    }

    /// <summary>With the address type already in <paramref name="buf"/>[0], reads the rest of a SOCKS5-form address
    /// ([LEN] ADDR PORT) after it; returns the whole address's length, or 0 for an unknown type.</summary>
    private static async Task<int> ReadAddressAsync(Socket s, byte[] buf)
    {
        var at = 1;
        int addrLen;
        switch (buf[0])
        {
            case 1: addrLen = 4; break;
            case 4: addrLen = 16; break;
            case 3:
                await ReadExactlyAsync(s, buf.AsMemory(1, 1)).ConfigureAwait(false);
                addrLen = buf[1];
                at = 2;
                break;
            default: return 0;
        }
        await ReadExactlyAsync(s, buf.AsMemory(at, addrLen + 2)).ConfigureAwait(false);
        return at + addrLen + 2;
    }

    /// <summary>Connects to a SOCKS5-form address (ATYP [LEN] ADDR PORT); null when it cannot.</summary>
    private static async Task<Socket?> ConnectAsync(byte[] address)
    {
        var port = BinaryPrimitives.ReadUInt16BigEndian(address.AsSpan(address.Length - 2));
        IPAddress ip;
        switch (address[0])
        {
            case 1: ip = new IPAddress(address.AsSpan(1, 4)); break;
            case 4: ip = new IPAddress(address.AsSpan(1, 16)); break;
            default:
                var name = Encoding.ASCII.GetString(address, 2, address[1]);
                var found = await Dns.GetHostAddressesAsync(name).ConfigureAwait(false);
                if (found.Length == 0)
                {
                    return null;
                }
                ip = found[0];
                break;
        }
        var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await s.ConnectAsync(new IPEndPoint(ip, port)).ConfigureAwait(false);
            return s;
        }
        catch (SocketException)
        {
            s.Dispose();
            return null;
        }
    }

    /// <summary>Copies both ways until both directions have ended (a read of 0 half-closes the other side).</summary>
    private static async Task PumpAsync(Socket a, Socket b, byte[] bufferA)
    {
        var other = CopyAsync(b, a, new byte[16 * 1024]);
        await CopyAsync(a, b, bufferA).ConfigureAwait(false);
        await other.ConfigureAwait(false);
    }

    private static async Task CopyAsync(Socket from, Socket to, byte[] buffer)
    {
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            try
            {
                to.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e2) when (e2 is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private static async Task ReadExactlyAsync(Socket s, Memory<byte> into)
    {
        while (into.Length > 0)
        {
            var n = await s.ReceiveAsync(into, SocketFlags.None).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }
            into = into[n..];
        }
    }
}
