using System.Globalization;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Proxy.Exit;

/// <summary>How one proxy stream ended (for tests, metrics and logs).</summary>
internal enum ExitStreamOutcome
{
    /// <summary>The destination was connected and the tunnel ran to its end (see <see cref="ExitStreamResult.Pump"/>).</summary>
    Tunneled,

    /// <summary>The peer is not on the allowlist.</summary>
    PeerNotAllowed,

    /// <summary>A concurrent-stream limit refused the stream.</summary>
    LimitReached,

    /// <summary>The request line was missing, malformed, oversized or late.</summary>
    BadRequest,

    /// <summary>Policy, resolution or connect failed; an error response was sent.</summary>
    DialFailed,

    /// <summary>The stream broke while the response was written.</summary>
    StreamFailed,

    /// <summary>The caller's token ended the stream.</summary>
    Canceled,
}

internal readonly record struct ExitStreamResult(ExitStreamOutcome Outcome, ProxyErrorCode? Error = null, ExitPumpResult? Pump = null);

/// <summary>
/// Serves one <c>/bethrou/proxy/1.0.0</c> stream, wire-compatible with Go clients (reference §2.2):
/// allowlist → concurrency slot → request line (bounded in size and time) → policy-checked Happy Eyeballs dial →
/// <c>{"status":"ok"}</c> or an error line (Go text plus our <c>"code"</c>) → raw tunnel with half-close both ways
/// and no idle timeout.
/// </summary>
internal sealed class ExitHandler
{
    private readonly ExitOptions _options;
    private readonly IEgressPolicy _policy;
    private readonly ExitDialer _dialer;
    private readonly ExitStreamLimiter _limiter;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public ExitHandler(ExitOptions options, IEgressPolicy policy, ExitDialer dialer, ILogger<ExitHandler> logger, TimeProvider timeProvider)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid exit options: " + string.Join("; ", errors), nameof(options));
        }
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _dialer = dialer ?? throw new ArgumentNullException(nameof(dialer));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _limiter = new ExitStreamLimiter(options.MaxConcurrentStreams, options.MaxConcurrentStreamsPerPeer);
    }

    /// <summary>Builds the default stack (<see cref="EgressPolicy"/>, system resolver, real sockets).</summary>
    public static ExitHandler Create(
        ExitOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IHostResolver? resolver = null)
    {
        var time = timeProvider ?? TimeProvider.System;
        var policy = EgressPolicy.FromOptions(options);
        var dialer = new ExitDialer(policy, resolver, time, options.ConnectionAttemptDelay);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ExitHandler>();
        return new ExitHandler(options, policy, dialer, logger, time);
    }

    public int ActiveStreams => _limiter.ActiveStreams;

    public int ActiveStreamsOf(PeerId peer) => _limiter.ActiveStreamsOf(peer);

    public ValueTask<ExitStreamResult> HandleAsync(IDuplexPipe stream, PeerId remotePeer, CancellationToken cancellationToken) =>
        HandleAsync(stream, remotePeer, abortStream: null, cancellationToken);

    /// <summary>
    /// Serves the stream to its end and completes both of its pipes. Stream and network failures are returned,
    /// not thrown. <paramref name="abortStream"/> is called when the tunnel fails (pass the muxer's reset so the
    /// client sees an abort, not a clean end of data).
    /// </summary>
    public async ValueTask<ExitStreamResult> HandleAsync(
        IDuplexPipe stream, PeerId remotePeer, Action? abortStream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(remotePeer);
        try
        {
            if (!_policy.IsPeerAllowed(remotePeer))
            {
                ExitLog.PeerNotAuthorized(_logger, remotePeer);
                return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.PeerNotAllowed, ProxyErrorCode.NotAllowed,
                    $"peer {remotePeer} is not authorized to use this exit node", cancellationToken).ConfigureAwait(false);
            }
            switch (_limiter.TryAcquire(remotePeer))
            {
                case StreamLimitVerdict.GlobalLimit:
                    ExitLog.GlobalLimitReached(_logger, remotePeer, _limiter.MaxStreams);
                    return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.LimitReached, ProxyErrorCode.Limit,
                        Invariant($"exit node is at its limit of {_limiter.MaxStreams} concurrent streams"),
                        cancellationToken).ConfigureAwait(false);
                case StreamLimitVerdict.PeerLimit:
                    ExitLog.PeerLimitReached(_logger, remotePeer, _limiter.MaxStreamsPerPeer);
                    return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.LimitReached, ProxyErrorCode.Limit,
                        Invariant($"peer {remotePeer} is at its limit of {_limiter.MaxStreamsPerPeer} concurrent streams on this exit node"),
                        cancellationToken).ConfigureAwait(false);
            }
            try
            {
                return await ServeAsync(stream, remotePeer, abortStream, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _limiter.Release(remotePeer);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            ExitLog.StreamCanceled(_logger, remotePeer);
            await AbortAsync(stream, abortStream, new OperationCanceledException("exit node is shutting down")).ConfigureAwait(false);
            return new ExitStreamResult(ExitStreamOutcome.Canceled);
        }
    }

    private async ValueTask<ExitStreamResult> ServeAsync(
        IDuplexPipe stream, PeerId remotePeer, Action? abortStream, CancellationToken cancellationToken)
    {
        ProxyRequest request;
        using (var requestDeadline = new CancellationTokenSource(_options.RequestTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, requestDeadline.Token))
        {
            try
            {
                request = await ProxyStreamProtocol.ReadRequestAsync(stream.Input, linked.Token).ConfigureAwait(false);
            }
            catch (ProxyProtocolException ex)
            {
                ExitLog.BadRequest(_logger, remotePeer, ex.Message);
                return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.BadRequest, ProxyErrorCode.General,
                    ex.Message, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                ExitLog.RequestTimedOut(_logger, remotePeer, _options.RequestTimeout);
                return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.BadRequest, ProxyErrorCode.General,
                    "timed out waiting for the proxy request", cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException)
            {
                // The stream itself broke (reset) before a full request arrived.
                ExitLog.BadRequest(_logger, remotePeer, ex.Message);
                await AbortAsync(stream, abortStream, ex).ConfigureAwait(false);
                return new ExitStreamResult(ExitStreamOutcome.StreamFailed);
            }
        }

        if (!ProxyAddress.TryParse(request.Address, out var host, out var port, out var addressError))
        {
            ExitLog.BadRequest(_logger, remotePeer, addressError);
            return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.BadRequest, ProxyErrorCode.General,
                addressError, cancellationToken).ConfigureAwait(false);
        }

        var timeout = _options.DialTimeout;
        if (request.ConnectTimeoutMs is > 0 and var ms && ms < timeout.TotalMilliseconds)
        {
            timeout = TimeSpan.FromMilliseconds(ms);
        }
        var dial = await _dialer.DialAsync(host, port, timeout, cancellationToken).ConfigureAwait(false);
        if (!dial.Succeeded)
        {
            ExitLog.DialFailed(_logger, remotePeer, request.Address, dial.Error, dial.Message!);
            return await RefuseAsync(stream, remotePeer, abortStream, ExitStreamOutcome.DialFailed, dial.Error, dial.Message!,
                cancellationToken).ConfigureAwait(false);
        }

        var socket = dial.Socket!;
        try
        {
            var flush = await ProxyStreamProtocol.WriteResponseAsync(stream.Output, ProxyResponse.Ok, cancellationToken).ConfigureAwait(false);
            if (flush.IsCompleted || flush.IsCanceled)
            {
                throw new IOException("the stream stopped accepting data before the proxy response");
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            ExitLog.ResponseFailed(_logger, remotePeer, ex);
            socket.Dispose();
            await AbortAsync(stream, abortStream, ex).ConfigureAwait(false);
            return new ExitStreamResult(ExitStreamOutcome.StreamFailed);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            ExitLog.StreamConnected(_logger, remotePeer, request.Address, dial.RemoteEndPoint!.ToString());
        }
        var pump = await ExitPump.RunAsync(stream, socket, abortStream, cancellationToken).ConfigureAwait(false);
        ExitLog.StreamEnded(_logger, remotePeer, pump.Outcome, pump.BytesToOrigin, pump.BytesFromOrigin);
        return pump.Outcome == ExitPumpOutcome.Canceled && cancellationToken.IsCancellationRequested
            ? new ExitStreamResult(ExitStreamOutcome.Canceled, null, pump)
            : new ExitStreamResult(ExitStreamOutcome.Tunneled, null, pump);
    }

    /// <summary>Writes one error line and closes both directions (as Go's node does).</summary>
    private async ValueTask<ExitStreamResult> RefuseAsync(
        IDuplexPipe stream, PeerId remotePeer, Action? abortStream, ExitStreamOutcome outcome, ProxyErrorCode code, string message,
        CancellationToken cancellationToken)
    {
        try
        {
            await ProxyStreamProtocol.WriteResponseAsync(stream.Output, ProxyResponse.Error(code, message), cancellationToken)
                .ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.Input.CompleteAsync().ConfigureAwait(false);
            return new ExitStreamResult(outcome, code);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            ExitLog.ResponseFailed(_logger, remotePeer, ex);
            await AbortAsync(stream, abortStream, ex).ConfigureAwait(false);
            return new ExitStreamResult(ExitStreamOutcome.StreamFailed, code);
        }
    }

    private static async ValueTask AbortAsync(IDuplexPipe stream, Action? abortStream, Exception cause)
    {
        await stream.Input.CompleteAsync(cause).ConfigureAwait(false);
        await stream.Output.CompleteAsync(cause).ConfigureAwait(false);
        abortStream?.Invoke();
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
