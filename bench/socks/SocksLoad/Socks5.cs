using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Bench.Socks;

/// <summary>A SOCKS5 client (RFC 1928): no-auth method, CONNECT with an IPv4 or domain address.</summary>
internal static class Socks5
{
    /// <summary>
    /// Opens a TCP connection to the proxy and runs greeting and CONNECT the way curl does (wait for the method
    /// reply, then send CONNECT, then wait for its reply). Returns the connected socket and its reader (which may
    /// already hold bytes that follow the CONNECT reply).
    /// </summary>
    public static async ValueTask<(Socket Socket, SocketReader Reader)> ConnectAsync(
        IPEndPoint proxy, string host, int port, int bufferSize, CancellationToken ct)
    {
        var socket = new Socket(proxy.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(proxy, ct).ConfigureAwait(false);
            var reader = new SocketReader(socket, bufferSize);
            await socket.SendAsync(new byte[] { 5, 1, 0 }, SocketFlags.None, ct).ConfigureAwait(false);
            var method = new byte[2];
            await reader.ReadExactlyAsync(method, ct).ConfigureAwait(false);
            if (method[0] != 5 || method[1] != 0)
            {
                throw new SocksException($"proxy refused the no-auth method (reply {method[0]:x2} {method[1]:x2})");
            }
            await socket.SendAsync(BuildConnect(host, port), SocketFlags.None, ct).ConfigureAwait(false);
            var reply = new byte[4];
            await reader.ReadExactlyAsync(reply, ct).ConfigureAwait(false);
            if (reply[0] != 5)
            {
                throw new SocksException($"bad CONNECT reply version {reply[0]}");
            }
            var addrLen = reply[3] switch
            {
                1 => 4,
                4 => 16,
                3 => -1,
                _ => throw new SocksException($"bad CONNECT reply address type {reply[3]}"),
            };
            if (addrLen < 0)
            {
                var len = new byte[1];
                await reader.ReadExactlyAsync(len, ct).ConfigureAwait(false);
                addrLen = len[0];
            }
            await reader.ReadExactlyAsync(new byte[addrLen + 2], ct).ConfigureAwait(false);
            if (reply[1] != 0)
            {
                throw new SocksException($"CONNECT failed: reply {reply[1]} ({ReplyName(reply[1])})");
            }
            return (socket, reader);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static byte[] BuildConnect(string host, int port)
    {
        byte[] addr;
        byte atyp;
        if (IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork)
        {
            atyp = 1;
            addr = ip.GetAddressBytes();
        }
        else if (ip is not null && ip.AddressFamily == AddressFamily.InterNetworkV6)
        {
            atyp = 4;
            addr = ip.GetAddressBytes();
        }
        else
        {
            var name = Encoding.ASCII.GetBytes(host);
            if (name.Length is 0 or > 255)
            {
                throw new SocksException($"domain name `{host}` must be 1..255 bytes");
            }
            atyp = 3;
            addr = [(byte)name.Length, .. name];
        }
        return [5, 1, 0, atyp, .. addr, (byte)(port >> 8), (byte)port];
    }

    private static string ReplyName(byte code) => code switch
    {
        1 => "general failure",
        2 => "not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned",
    };
}

internal sealed class SocksException(string message) : IOException(message);
