using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>A SOCKS5 client written by hand on raw sockets (RFC 1928), for exact reply codes and malformed input.</summary>
public static class RawSocks
{
    public const byte Connect = 0x01;
    public const byte Bind = 0x02;
    public const byte UdpAssociate = 0x03;

    /// <summary>DST.ADDR + DST.PORT as bytes: ATYP, address, port.</summary>
    public static byte[] Address(IPAddress ip, int port)
    {
        var bytes = ip.GetAddressBytes();
        var b = new byte[1 + bytes.Length + 2];
        b[0] = ip.AddressFamily == AddressFamily.InterNetwork ? (byte)0x01 : (byte)0x04;
        bytes.CopyTo(b, 1);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(1 + bytes.Length), (ushort)port);
        return b;
    }

    public static byte[] Address(string domain, int port)
    {
        var name = Encoding.ASCII.GetBytes(domain);
        var b = new byte[2 + name.Length + 2];
        b[0] = 0x03;
        b[1] = (byte)name.Length;
        name.CopyTo(b, 2);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2 + name.Length), (ushort)port);
        return b;
    }

    public static async Task<Socket> OpenAsync(IPEndPoint proxy, CancellationToken ct)
    {
        var s = new Socket(proxy.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await s.ConnectAsync(proxy, ct);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Greeting (no auth) + request; returns the reply code and the socket (positioned after the reply).</summary>
    public static async Task<(byte Reply, Socket Socket)> RequestAsync(IPEndPoint proxy, byte[] address, CancellationToken ct, byte command = Connect)
    {
        var s = await OpenAsync(proxy, ct);
        try
        {
            await s.SendAsync(new byte[] { 5, 1, 0 }, ct);
            var method = await ReadExactlyAsync(s, 2, ct);
            if (method is null || method[0] != 5 || method[1] != 0)
            {
                throw new IOException($"unexpected method selection {(method is null ? "EOF" : Convert.ToHexString(method))}");
            }
            await s.SendAsync((byte[])[5, command, 0, .. address], ct);
            var reply = await ReadReplyAsync(s, ct) ?? throw new IOException("the proxy closed without a reply");
            return (reply, s);
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>CONNECT and return only the reply code (closes the socket).</summary>
    public static async Task<byte> ReplyCodeAsync(IPEndPoint proxy, byte[] address, CancellationToken ct, byte command = Connect)
    {
        var (reply, s) = await RequestAsync(proxy, address, ct, command);
        s.Dispose();
        return reply;
    }

    /// <summary>Reads a whole reply (VER REP RSV ATYP BND.ADDR BND.PORT); null on EOF before the first byte.</summary>
    public static async Task<byte?> ReadReplyAsync(Socket s, CancellationToken ct)
    {
        var head = await ReadExactlyAsync(s, 4, ct);
        if (head is null)
        {
            return null;
        }
        if (head[0] != 5 || head[2] != 0)
        {
            throw new IOException($"malformed reply head {Convert.ToHexString(head)}");
        }
        var rest = head[3] switch
        {
            0x01 => 4 + 2,
            0x04 => 16 + 2,
            0x03 => (await ReadExactlyAsync(s, 1, ct) ?? throw new IOException("EOF in reply"))[0] + 2,
            _ => throw new IOException($"reply with ATYP {head[3]}"),
        };
        _ = await ReadExactlyAsync(s, rest, ct) ?? throw new IOException("EOF in reply address");
        return head[1];
    }

    /// <summary>Exactly <paramref name="count"/> bytes, or null when the peer closed before the first one.</summary>
    public static async Task<byte[]?> ReadExactlyAsync(Socket s, int count, CancellationToken ct)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await s.ReceiveAsync(buffer.AsMemory(filled), ct);
            if (n == 0)
            {
                if (filled == 0)
                {
                    return null;
                }
                throw new IOException($"EOF after {filled} of {count} bytes");
            }
            filled += n;
        }
        return buffer;
    }

    /// <summary>Reads until EOF. A reset counts as the end too and is reported.</summary>
    public static async Task<(byte[] Data, bool Reset)> ReadToEndAsync(Socket s, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await s.ReceiveAsync(buffer, ct)) > 0)
            {
                ms.Write(buffer, 0, n);
            }
            return (ms.ToArray(), false);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return (ms.ToArray(), true);
        }
    }

    /// <summary>
    /// The HTTP/1.1 body of <c>GET /bytes/N</c> via the proxy: returns the reply code, and on success the body.
    /// </summary>
    public static async Task<(byte Reply, byte[]? Body)> HttpGetAsync(IPEndPoint proxy, byte[] address, string path, CancellationToken ct)
    {
        var (reply, s) = await RequestAsync(proxy, address, ct);
        using (s)
        {
            if (reply != 0)
            {
                return (reply, null);
            }
            await s.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n"), ct);
            var (all, reset) = await ReadToEndAsync(s, ct);
            if (reset)
            {
                throw new IOException($"the tunnel was reset after {all.Length} bytes");
            }
            var end = all.AsSpan().IndexOf("\r\n\r\n"u8);
            if (end < 0 || !Encoding.ASCII.GetString(all, 0, end).StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            {
                throw new IOException($"bad HTTP response: {Encoding.ASCII.GetString(all, 0, Math.Min(all.Length, 200))}");
            }
            return (reply, all[(end + 4)..]);
        }
    }
}
