using System.IO.Pipelines;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Multistream;
using Bethrou.Proxy.Protocol;
using Bethrou.Proxy.Routing;
using Bethrou.Proxy.Socks5;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Client;

/// <summary>
/// Opens SOCKS tunnels through exit nodes: picks an exit by strategy, opens /bethrou/proxy/1.0.0, sends the Go JSON
/// request and waits for the reply. If the exit fails before replying (dead connection, stream refused, limit), the
/// next healthy exit is tried before the application gets an answer. Destination errors are not retried.
/// With fast open, exits that serve /bethrou/proxy/1.1.0 get the request and the tunnel is handed over at once; the
/// reply is checked by <see cref="FastOpenReader"/> on the tunnel's first read (no failover after that point).
/// </summary>
internal sealed class Libp2pTunnelConnector : ITunnelConnector
{
    private readonly Libp2pHost _host;
    private readonly ExitPool _pool;
    private readonly TimeSpan _timeout;
    private readonly int _maxAttempts;
    private readonly ILogger _logger;
    private readonly bool _fastOpen;
    private readonly TimeProvider _time;

    /// <param name="fastOpen">Answer the application as soon as the request is sent, to exits that serve
    /// <see cref="ProtocolIds.ProxyKeepsData"/> (others get the normal exchange): the application's first bytes go out
    /// with the request, one round trip to the exit sooner; the exit's answer is read on the tunnel's first read, and
    /// a refusal then resets the application's connection instead of becoming a SOCKS reply code.</param>
    public Libp2pTunnelConnector(
        Libp2pHost host, ExitPool pool, TimeSpan timeout, ILogger logger, int maxAttempts = 3, bool fastOpen = false,
        TimeProvider? timeProvider = null)
    {
        _host = host;
        _pool = pool;
        _timeout = timeout;
        _logger = logger;
        _maxAttempts = maxAttempts;
        _fastOpen = fastOpen;
        _time = timeProvider ?? TimeProvider.System;
    }

    public async ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken)
    {
        var tried = new List<PeerId>();
        string? lastFailure = null;
        for (var attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var exit = _pool.Pick(tried) ?? _pool.Pick();
            if (exit is null && attempt == 0 && _pool.Exits.Count > 0)
            {
                // Right after start (or after every exit dropped), wait a bounded time for one to come up rather than
                // failing the application at once.
                await _pool.WaitForHealthyAsync(1, _timeout, cancellationToken).ConfigureAwait(false);
                exit = _pool.Pick();
            }
            if (exit is null)
            {
                break;
            }
            tried.Add(exit.Id);
            var outcome = await TryExitAsync(exit, destination, cancellationToken).ConfigureAwait(false);
            if (outcome.Result is { } result)
            {
                return result;
            }
            lastFailure = $"exit {exit.Id}: {outcome.ExitFailure}";
            RoutingLog.Failover(_logger, exit.Id, outcome.ExitFailure!);
            // A stream that fails on a live connection (reset, refused) says nothing about the exit's health; a dead
            // connection or an exit that does not answer at all does (health checks bring it back when it answers).
            if (outcome.MarkUnhealthy && (outcome.Silent || _host.GetConnection(exit.Id) is null))
            {
                _pool.ReportFailure(exit, outcome.ExitFailure!);
            }
        }
        if (lastFailure is null)
        {
            RoutingLog.NoExit(_logger);
            return TunnelConnectResult.Failure(Socks5ReplyCode.NetworkUnreachable, "no healthy exit node is available");
        }
        return TunnelConnectResult.Failure(Socks5ReplyCode.GeneralFailure, lastFailure);
    }

    private readonly record struct Attempt(TunnelConnectResult? Result, string? ExitFailure, bool MarkUnhealthy, bool Silent = false);

    private async ValueTask<Attempt> TryExitAsync(ExitState exit, Socks5Destination destination, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // The exit's own dial is bounded by connect_timeout_ms; allow a little more for the round trip.
        cts.CancelAfter(_timeout + TimeSpan.FromSeconds(2));
        StreamContext? stream = null;
        try
        {
            var conn = await _host.ConnectAsync(exit.Id, cts.Token).ConfigureAwait(false);
            var request = new ProxyRequest(destination.ToHostPort(), (long)Math.Max(1, _timeout.TotalMilliseconds));
            if (_fastOpen && _host.PeerSupports(exit.Id, ProtocolIds.ProxyKeepsData))
            {
                // Header, proposal and request go out now; the answer is read by the tunnel's first read, after the
                // application has had its reply and sent its first bytes.
                stream = await _host.NewStreamLazyAsync(conn, ProtocolIds.ProxyKeepsData, cts.Token).ConfigureAwait(false);
                await ProxyStreamProtocol.WriteRequestAsync(stream.Output, request, cts.Token).ConfigureAwait(false);
                exit.StreamOpened();
                var input = new FastOpenReader(stream.Input, ProtocolIds.ProxyKeepsData, _timeout + TimeSpan.FromSeconds(2), _time);
                var fast = new ExitTunnel(stream, exit, input);
                stream = null;
                return new Attempt(TunnelConnectResult.Success(fast, fast), null, false);
            }
            if (_host.PeerSupports(exit.Id, ProtocolIds.Proxy))
            {
                // One packet out (header, proposal, request), one back (header, echo, reply): a single round trip.
                stream = await _host.NewStreamLazyAsync(conn, ProtocolIds.Proxy, cts.Token).ConfigureAwait(false);
                await ProxyStreamProtocol.WriteRequestAsync(stream.Output, request, cts.Token).ConfigureAwait(false);
                await MultistreamSelect.ReadLazyAnswerAsync(stream.Input, ProtocolIds.Proxy, cts.Token).ConfigureAwait(false);
            }
            else
            {
                stream = await _host.NewStreamAsync(conn, ProtocolIds.Proxy, cts.Token).ConfigureAwait(false);
                await ProxyStreamProtocol.WriteRequestAsync(stream.Output, request, cts.Token).ConfigureAwait(false);
            }
            var response = await ProxyStreamProtocol.ReadResponseAsync(stream.Input, cts.Token).ConfigureAwait(false);
            if (response.IsOk)
            {
                exit.StreamOpened();
                var tunnel = new ExitTunnel(stream, exit, stream.Input);
                stream = null;
                return new Attempt(TunnelConnectResult.Success(tunnel, tunnel), null, false);
            }
            var code = response.ErrorCode;
            if (code == ProxyErrorCode.Limit)
            {
                return new Attempt(null, response.Message ?? "exit is at its stream limit", MarkUnhealthy: false);
            }
            var reply = (Socks5ReplyCode)code.ToSocksReply();
            return new Attempt(TunnelConnectResult.Failure(reply, response.Message ?? "exit node refused the request"), null, false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Attempt(null, $"no answer within {(_timeout + TimeSpan.FromSeconds(2)).TotalSeconds:0.#} s", MarkUnhealthy: true, Silent: true);
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidDataException or ObjectDisposedException or InvalidOperationException)
        {
            return new Attempt(null, e.Message, MarkUnhealthy: true);
        }
        finally
        {
            if (stream is not null)
            {
                stream.Reset();
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The tunnel handed to the SOCKS pump; disposing it releases the stream and the exit's load count.</summary>
    private sealed class ExitTunnel(StreamContext stream, ExitState exit, PipeReader input) : IDuplexPipe, IAsyncDisposable
    {
        private int _disposed;

        public PipeReader Input => input;

        public PipeWriter Output => stream.Output;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                exit.StreamClosed();
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
