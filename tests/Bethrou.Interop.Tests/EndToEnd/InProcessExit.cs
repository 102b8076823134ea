using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Node;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>An exit node hosted in the test process (real libp2p host on 127.0.0.1:0, real <see cref="ExitNode"/>).</summary>
internal sealed class InProcessExit : IAsyncDisposable
{
    private int _disposed;

    private InProcessExit(ExitNode node)
    {
        Node = node;
    }

    public ExitNode Node { get; }

    public Libp2pHost Host => Node.Host;

    public PeerId Id => Host.LocalPeer;

    public int Port => int.Parse(Host.ListenAddresses[0].ToString().Split('/')[4], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Full multiaddr with /p2p/.</summary>
    public string Addr => Host.ListenAddresses[0].WithPeerId(Id).ToString();

    /// <summary>The same peer reached through another local port (e.g. a <see cref="DelayRelay"/>).</summary>
    public string AddrVia(int port) => $"/ip4/127.0.0.1/tcp/{port}/p2p/{Id}";

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public static async Task<InProcessExit> StartAsync(PreSharedKey psk, ExitOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        var hostOptions = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk };
        hostOptions.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        var node = new ExitNode(new Libp2pHost(hostOptions, factory), options ?? new ExitOptions { AllowPrivate = true }, factory);
        await node.Host.StartAsync();
        return new InProcessExit(node);
    }

    /// <summary>Starts an in-process client (SOCKS on 127.0.0.1:0) for these exits.</summary>
    public static async Task<ProxyClient> StartClientAsync(PreSharedKey psk, IReadOnlyList<string> nodes, string strategy,
        string health = "1s", string timeout = "5s", ILoggerFactory? loggerFactory = null, bool fastOpen = false)
    {
        var config = ClientConfigLoader.Load(null, new Dictionary<string, string>(), new ClientOverrides
        {
            KeyPath = "(in memory)",
            Nodes = nodes,
            Listen = "127.0.0.1:0",
            Strategy = strategy,
            Health = health,
            Timeout = timeout,
            FastOpen = fastOpen,
        });
        return await ProxyClient.StartAsync(config, psk, Ed25519PrivateKey.Generate(), loggerFactory ?? NullLoggerFactory.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Node.DisposeAsync();
        }
    }
}
