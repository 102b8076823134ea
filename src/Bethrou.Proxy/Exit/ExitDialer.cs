using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Bethrou.Proxy.Protocol;

namespace Bethrou.Proxy.Exit;

/// <summary>The result of <see cref="ExitDialer.DialAsync"/>: a connected socket, or an error code and Go-style text.</summary>
internal readonly record struct ExitDialResult(Socket? Socket, IPEndPoint? RemoteEndPoint, ProxyErrorCode Error, string? Message)
{
    public bool Succeeded => Socket is not null;

    public static ExitDialResult Success(Socket socket, IPEndPoint remote) => new(socket, remote, ProxyErrorCode.General, null);

    public static ExitDialResult Failure(ProxyErrorCode error, string message) => new(null, null, error, message);
}

/// <summary>
/// Resolves, applies the egress policy to every resolved address, then races the allowed ones with
/// Happy Eyeballs (RFC 8305): families interleaved starting with the resolver's first choice, the next attempt
/// starts after the connection attempt delay or as soon as the previous one fails, the first success wins and
/// the rest are canceled. One deadline covers resolution and all attempts.
/// Error texts follow Go's (<c>dial tcp 1.2.3.4:443: connect: connection refused</c>, <c>… no such host</c>,
/// <c>… i/o timeout</c>) so that Go clients' text matching still works.
/// </summary>
internal sealed class ExitDialer
{
    private readonly IEgressPolicy _policy;
    private readonly IHostResolver _resolver;
    private readonly TimeProvider _time;
    private readonly TimeSpan _attemptDelay;
    private readonly TcpConnector _connector;

    public ExitDialer(
        IEgressPolicy policy,
        IHostResolver? resolver = null,
        TimeProvider? timeProvider = null,
        TimeSpan? connectionAttemptDelay = null,
        TcpConnector? connector = null)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _resolver = resolver ?? SystemHostResolver.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _attemptDelay = connectionAttemptDelay ?? TimeSpan.FromMilliseconds(250);
        _connector = connector ?? TcpConnectors.ConnectAsync;
    }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> within <paramref name="timeout"/>. Expected network
    /// failures are returned, not thrown; only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    public async ValueTask<ExitDialResult> DialAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var target = ProxyAddress.Format(host, port);
        if (!_policy.IsPortAllowed(port))
        {
            return ExitDialResult.Failure(
                ProxyErrorCode.NotAllowed,
                string.Create(CultureInfo.InvariantCulture, $"destination port {port} is not allowed by this exit node"));
        }

        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            IPAddress[] resolved;
            if (IPAddress.TryParse(host, out var literal))
            {
                resolved = [literal];
            }
            else
            {
                var lookup = await ResolveAsync(host, linked.Token).ConfigureAwait(false);
                if (lookup.Failure is { } failure)
                {
                    return failure;
                }
                resolved = lookup.Addresses!;
            }

            var allowed = new List<IPAddress>(resolved.Length);
            IPAddress? firstRefused = null;
            var refusedClass = AddressClass.Public;
            foreach (var raw in resolved)
            {
                var address = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
                if (allowed.Contains(address))
                {
                    continue;
                }
                if (_policy.IsAddressAllowed(address, out var cls))
                {
                    allowed.Add(address);
                }
                else if (firstRefused is null)
                {
                    firstRefused = address;
                    refusedClass = cls;
                }
            }
            if (allowed.Count == 0)
            {
                if (firstRefused is null)
                {
                    return ExitDialResult.Failure(ProxyErrorCode.HostUnreachable, $"dial tcp: lookup {host}: no such host");
                }
                var what = firstRefused.ToString() == host
                    ? $"destination {firstRefused} is {AddressClassifier.Describe(refusedClass)}"
                    : $"destination \"{host}\" resolved to {firstRefused}, {AddressClassifier.Describe(refusedClass)}";
                return ExitDialResult.Failure(ProxyErrorCode.NotAllowed, $"{what}; not allowed by this exit node's egress policy");
            }

            var race = new HappyEyeballsRace(this, Interleave(allowed), port, linked.Token);
            var result = await race.RunAsync().ConfigureAwait(false);
            if (result.Succeeded || !linked.IsCancellationRequested)
            {
                return result;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested)
        {
        }
        cancellationToken.ThrowIfCancellationRequested();
        return ExitDialResult.Failure(ProxyErrorCode.Timeout, $"dial tcp {target}: i/o timeout");
    }

    private async ValueTask<(IPAddress[]? Addresses, ExitDialResult? Failure)> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            var addresses = await _resolver.ResolveAsync(host, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                return (null, ExitDialResult.Failure(ProxyErrorCode.HostUnreachable, $"dial tcp: lookup {host}: no such host"));
            }
            return (addresses, null);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData)
        {
            return (null, ExitDialResult.Failure(ProxyErrorCode.HostUnreachable, $"dial tcp: lookup {host}: no such host"));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TryAgain)
        {
            return (null, ExitDialResult.Failure(ProxyErrorCode.HostUnreachable,
                $"dial tcp: lookup {host}: temporary failure in name resolution"));
        }
        catch (SocketException ex)
        {
            return (null, ExitDialResult.Failure(ProxyErrorCode.HostUnreachable, $"dial tcp: lookup {host}: {ex.Message}"));
        }
        catch (ArgumentException)
        {
            // The system resolver rejects malformed names (too long, bad characters) this way.
            return (null, ExitDialResult.Failure(ProxyErrorCode.HostUnreachable, $"dial tcp: lookup {host}: no such host"));
        }
    }

    /// <summary>RFC 8305 §4: alternate families, starting with the family of the resolver's first answer.</summary>
    internal static List<IPAddress> Interleave(IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count < 2)
        {
            return [.. addresses];
        }
        var firstFamily = addresses[0].AddressFamily;
        var primary = new Queue<IPAddress>();
        var secondary = new Queue<IPAddress>();
        foreach (var a in addresses)
        {
            (a.AddressFamily == firstFamily ? primary : secondary).Enqueue(a);
        }
        var ordered = new List<IPAddress>(addresses.Count);
        while (primary.Count > 0 || secondary.Count > 0)
        {
            if (primary.Count > 0)
            {
                ordered.Add(primary.Dequeue());
            }
            if (secondary.Count > 0)
            {
                ordered.Add(secondary.Dequeue());
            }
        }
        return ordered;
    }

    internal static (ProxyErrorCode Code, string Text, int Rank) MapSocketError(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => (ProxyErrorCode.ConnectionRefused, "connection refused", 6),
        SocketError.TimedOut => (ProxyErrorCode.Timeout, "connection timed out", 5),
        SocketError.HostUnreachable or SocketError.HostDown => (ProxyErrorCode.HostUnreachable, "no route to host", 4),
        SocketError.NetworkUnreachable or SocketError.NetworkDown =>
            (ProxyErrorCode.NetworkUnreachable, "network is unreachable", 3),
        SocketError.AddressFamilyNotSupported or SocketError.ProtocolFamilyNotSupported or SocketError.AddressNotAvailable =>
            (ProxyErrorCode.NetworkUnreachable, "network is unreachable (address family not available)", 2),
        SocketError.AccessDenied => (ProxyErrorCode.NotAllowed, "permission denied (blocked by a local firewall)", 1),
        _ => (ProxyErrorCode.General, error.ToString(), 0),
    };

    private readonly record struct AttemptOutcome(IPEndPoint EndPoint, Socket? Socket, ProxyErrorCode Code, string? Text, int Rank);

    /// <summary>One race over an ordered address list; owns every attempt it starts.</summary>
    private sealed class HappyEyeballsRace(ExitDialer dialer, List<IPAddress> addresses, int port, CancellationToken token)
    {
        private readonly List<Task<AttemptOutcome>> _pending = new(addresses.Count);
        private int _next;
        private Task? _delay;
        private CancellationTokenSource? _delayCts;

        public async ValueTask<ExitDialResult> RunAsync()
        {
            using var attempts = CancellationTokenSource.CreateLinkedTokenSource(token);
            AttemptOutcome? worst = null;
            try
            {
                StartNext(attempts.Token);
                while (_pending.Count > 0 && !token.IsCancellationRequested)
                {
                    var waitOn = new List<Task>(_pending.Count + 1);
                    waitOn.AddRange(_pending);
                    if (_delay is not null)
                    {
                        waitOn.Add(_delay);
                    }
                    var done = await Task.WhenAny(waitOn).ConfigureAwait(false);
                    if (token.IsCancellationRequested)
                    {
                        break; // deadline or caller: start nothing new, the finally cleans up
                    }
                    if (done == _delay)
                    {
                        StartNext(attempts.Token);
                        continue;
                    }
                    var attempt = (Task<AttemptOutcome>)done;
                    _pending.Remove(attempt);
                    var outcome = await attempt.ConfigureAwait(false);
                    if (outcome.Socket is not null)
                    {
                        return ExitDialResult.Success(outcome.Socket, outcome.EndPoint);
                    }
                    if (outcome.Text is not null && (worst is null || outcome.Rank > worst.Value.Rank))
                    {
                        worst = outcome;
                    }
                    if (_next < addresses.Count)
                    {
                        StartNext(attempts.Token); // a failure starts the next attempt at once
                    }
                }
            }
            finally
            {
                await attempts.CancelAsync().ConfigureAwait(false);
                _delayCts?.Dispose();
                foreach (var loser in _pending)
                {
                    var outcome = await loser.ConfigureAwait(false);
                    outcome.Socket?.Dispose();
                }
            }
            if (worst is { } w && !token.IsCancellationRequested)
            {
                return ExitDialResult.Failure(w.Code, $"dial tcp {ProxyAddress.Format(w.EndPoint.Address, port)}: connect: {w.Text}");
            }
            // Every attempt was canceled: the deadline (or the caller) ended the race.
            return ExitDialResult.Failure(ProxyErrorCode.Timeout, "i/o timeout");
        }

        private void StartNext(CancellationToken attemptsToken)
        {
            if (_delayCts is not null)
            {
                _delayCts.Cancel();
                _delayCts.Dispose();
                _delayCts = null;
            }
            _delay = null;
            var address = addresses[_next++];
            if (_next < addresses.Count)
            {
                // Armed before the attempt starts, so virtual-time tests can rely on the timer existing.
                _delayCts = CancellationTokenSource.CreateLinkedTokenSource(attemptsToken);
                _delay = Task.Delay(dialer._attemptDelay, dialer._time, _delayCts.Token);
            }
            _pending.Add(AttemptAsync(new IPEndPoint(address, port), attemptsToken));
        }

        private async Task<AttemptOutcome> AttemptAsync(IPEndPoint endPoint, CancellationToken attemptsToken)
        {
            try
            {
                var socket = await dialer._connector(endPoint, attemptsToken).ConfigureAwait(false);
                return new AttemptOutcome(endPoint, socket, ProxyErrorCode.General, null, 0);
            }
            catch (OperationCanceledException)
            {
                return new AttemptOutcome(endPoint, null, ProxyErrorCode.Timeout, null, -1);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted && attemptsToken.IsCancellationRequested)
            {
                return new AttemptOutcome(endPoint, null, ProxyErrorCode.Timeout, null, -1);
            }
            catch (SocketException ex)
            {
                var (code, text, rank) = MapSocketError(ex.SocketErrorCode);
                return new AttemptOutcome(endPoint, null, code, text, rank);
            }
            catch (Exception ex)
            {
                return new AttemptOutcome(endPoint, null, ProxyErrorCode.General, ex.Message, 0);
            }
        }
    }
}
