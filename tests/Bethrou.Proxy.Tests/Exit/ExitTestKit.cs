using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Transport;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Proxy.Tests.Exit;

/// <summary>A real TCP origin on 127.0.0.1, port 0.</summary>
internal sealed class LoopbackOrigin : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public LoopbackOrigin() => _listener.Start();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>True when a completed connection waits in the accept queue.</summary>
    public bool HasPendingConnection => _listener.Pending();

    public async Task<Socket> AcceptAsync(CancellationToken ct = default) => await _listener.AcceptSocketAsync(ct);

    public void Dispose() => _listener.Stop();

    /// <summary>A port with nothing listening (bound, then released).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}

/// <summary>A resolver with a fixed answer per host (everything else: NXDOMAIN), as a real resolver would answer.</summary>
internal sealed class StaticResolver(Dictionary<string, IPAddress[]> answers) : IHostResolver
{
    public int Calls;

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        return answers.TryGetValue(host, out var a)
            ? Task.FromResult(a)
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
    }
}

internal static class ExitTestKit
{
    public static readonly PeerId PeerA = Ed25519PrivateKey.Generate().PeerId;
    public static readonly PeerId PeerB = Ed25519PrivateKey.Generate().PeerId;
    public static readonly PeerId PeerC = Ed25519PrivateKey.Generate().PeerId;

    public static ExitHandler Handler(ExitOptions options, IHostResolver? resolver = null, TimeProvider? time = null, TcpConnector? connector = null)
    {
        var t = time ?? TimeProvider.System;
        var policy = EgressPolicy.FromOptions(options);
        var dialer = new ExitDialer(policy, resolver, t, options.ConnectionAttemptDelay, connector);
        return new ExitHandler(options, policy, dialer, NullLogger<ExitHandler>.Instance, t);
    }

    /// <summary>Starts the handler on one end of an in-memory pipe pair; returns the client end.</summary>
    public static (IDuplexPipe Client, Task<ExitStreamResult> Handled) Open(ExitHandler handler, PeerId peer, CancellationToken ct = default)
    {
        var (client, server) = DuplexPipe.CreatePair();
        var handled = handler.HandleAsync(server, peer, ct).AsTask();
        return (client, handled);
    }

    public static async Task<ProxyResponse> RequestAsync(IDuplexPipe client, ProxyRequest request)
    {
        await ProxyStreamProtocol.WriteRequestAsync(client.Output, request, CancellationToken.None);
        return await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
    }

    public static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            var r = await reader.ReadAsync();
            foreach (var seg in r.Buffer)
            {
                all.Write(seg.Span);
            }
            reader.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                return all.WrittenSpan.ToArray();
            }
        }
    }

    public static async Task<byte[]> ReceiveToEndAsync(Socket socket)
    {
        var all = new ArrayBufferWriter<byte>();
        var buf = new byte[16384];
        while (true)
        {
            var n = await socket.ReceiveAsync(buf, SocketFlags.None);
            if (n == 0)
            {
                return all.WrittenSpan.ToArray();
            }
            all.Write(buf.AsSpan(0, n));
        }
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
