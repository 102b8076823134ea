using Bethrou.Libp2p.Host;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Node;

/// <summary>An exit node: a libp2p host serving /bethrou/proxy/1.0.0 (and 1.1.0, the same with data after the request
/// kept) and /bethrou/ping/1.0.0.</summary>
internal sealed class ExitNode : IAsyncDisposable
{
    private readonly ExitHandler _handler;

    public ExitNode(Libp2pHost host, ExitOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        Host = host;
        _handler = ExitHandler.Create(options, loggerFactory, time);
        foreach (var protocol in new[] { ProtocolIds.Proxy, ProtocolIds.ProxyKeepsData })
        {
            host.SetStreamHandler(protocol, async (s, ct) =>
            {
                await _handler.HandleAsync(s, s.RemotePeer, s.Reset, ct).ConfigureAwait(false);
            });
        }
        host.SetStreamHandler(ProtocolIds.Ping, async (s, ct) => await BethrouPingHandler.HandleAsync(s, ct).ConfigureAwait(false));
    }

    public Libp2pHost Host { get; }

    public int ActiveStreams => _handler.ActiveStreams;

    public ValueTask DisposeAsync() => Host.DisposeAsync();
}
