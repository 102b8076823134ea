using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>Settings for listening through relays.</summary>
public sealed class RelayClientOptions
{
    /// <summary>Bound on one RESERVE round trip and on reading a stop request.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First retry delay after a failed reservation; doubles up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Refresh once less than this remains (go autorelay: 2 min), and in any case after 3/4 of the TTL.</summary>
    public TimeSpan RefreshMargin { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Refuse reservations that come without a voucher (a voucher that is present is always verified).</summary>
    public bool RequireVoucher { get; set; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"RequestTimeout must be positive, got {RequestTimeout}");
        }
        if (MinBackoff <= TimeSpan.Zero || MaxBackoff < MinBackoff)
        {
            errors.Add($"backoff must satisfy 0 < MinBackoff <= MaxBackoff, got {MinBackoff} and {MaxBackoff}");
        }
        if (RefreshMargin < TimeSpan.Zero)
        {
            errors.Add($"RefreshMargin must not be negative, got {RefreshMargin}");
        }
        return errors;
    }
}

/// <summary>A reservation held on one relay.</summary>
/// <param name="Relay">The relay's peer id.</param>
/// <param name="RelayAddress">The configured relay address, with /p2p/&lt;relay&gt;.</param>
/// <param name="CircuitAddress"><c>&lt;relay&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>: our listen address through it (without /p2p/self).</param>
/// <param name="Expire">When the relay drops it unless refreshed.</param>
/// <param name="Limit">The relay's per-connection limit (null = none).</param>
/// <param name="RelayAddresses">The public addresses the relay reported.</param>
public sealed record RelayReservationInfo(PeerId Relay, Multiaddress RelayAddress, Multiaddress CircuitAddress, DateTimeOffset Expire,
    RelayLimit? Limit, IReadOnlyList<Multiaddress> RelayAddresses);

/// <summary>
/// Listens through relays: keeps a reservation on each configured relay (refreshed before it expires, re-made with
/// backoff when the relay connection drops or the relay restarts), adds <c>&lt;relay&gt;/p2p-circuit</c> to the
/// host's listen addresses while it is held, and serves the stop protocol: an incoming circuit from a relay we hold
/// a reservation on is upgraded like an inbound TCP connection (we are the responder) and marked limited.
/// </summary>
public sealed class RelayReservationManager : IAsyncDisposable
{
    private readonly Libp2pHost _host;
    private readonly RelayClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<Slot> _slots = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private int _started;

    public RelayReservationManager(Libp2pHost host, IEnumerable<Multiaddress> relays, RelayClientOptions? options = null,
        ILogger? logger = null, TimeProvider? time = null)
    {
        _host = host ?? throw new ArgumentNullException(nameof(host));
        _options = options ?? new RelayClientOptions();
        var errors = _options.Validate();
        foreach (var r in relays)
        {
            if (r.IsRelayed)
            {
                errors = [.. errors, $"relay address {r} is itself a circuit address"];
            }
            else if (r.PeerId is null)
            {
                errors = [.. errors, $"relay address {r} must end with /p2p/<relay peer id>"];
            }
            else if (r.PeerId == host.LocalPeer)
            {
                errors = [.. errors, $"relay address {r} is this node itself"];
            }
            else
            {
                _slots.Add(new Slot(r, r.PeerId));
            }
        }
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid relay client settings: " + string.Join("; ", errors), nameof(relays));
        }
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? host.Time;
    }

    /// <summary>Raised when a reservation is made on a (new) relay connection: the circuit address is now listened on.</summary>
    public event Action<RelayReservationInfo>? Reserved;

    /// <summary>Raised when a reservation is refreshed on the same connection.</summary>
    public event Action<RelayReservationInfo>? Refreshed;

    /// <summary>Raised when a held reservation is lost (connection dropped, refresh failed); it is re-made with backoff.</summary>
    public event Action<RelayReservationInfo, string>? Lost;

    /// <summary>Raised when an attempt to reserve fails (relay address, reason); the next attempt follows the backoff.</summary>
    public event Action<Multiaddress, string>? Failed;

    /// <summary>Reservations held now.</summary>
    public IReadOnlyList<RelayReservationInfo> Active
    {
        get
        {
            lock (_slots)
            {
                return [.. _slots.Select(s => s.Current).OfType<RelayReservationInfo>()];
            }
        }
    }

    /// <summary>Registers the stop handler and starts one reservation loop per relay.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }
        _host.SetStreamHandler(RelayProtocol.StopProtocolId, HandleStopAsync);
        foreach (var slot in _slots)
        {
            var loop = RunAsync(slot, _stopping.Token);
            _loops.Add(loop);
            _host.Track(loop, "relay reservation " + slot.Address);
        }
    }

    /// <summary>The delay before refreshing a reservation that has <paramref name="remaining"/> left.</summary>
    public static TimeSpan RefreshDelay(TimeSpan remaining, TimeSpan margin)
    {
        if (remaining <= TimeSpan.Zero)
        {
            return TimeSpan.FromSeconds(1);
        }
        var threeQuarters = remaining * 3 / 4;
        var beforeMargin = remaining - margin;
        var delay = beforeMargin > TimeSpan.Zero && beforeMargin < threeQuarters ? beforeMargin : threeQuarters;
        return delay < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : delay;
    }

    /// <summary>Retry delay after <paramref name="failures"/> consecutive failures (1 = first retry).</summary>
    public TimeSpan Backoff(int failures)
    {
        var delay = _options.MinBackoff;
        for (var i = 1; i < failures && delay < _options.MaxBackoff; i++)
        {
            delay *= 2;
        }
        return delay > _options.MaxBackoff ? _options.MaxBackoff : delay;
    }

    private async Task RunAsync(Slot slot, CancellationToken ct)
    {
        await Task.Yield();
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            Libp2pConnection? conn = null;
            try
            {
                conn = await Dcutr.PortReuseConnect.ConnectAsync(_host, slot.Address, ct).ConfigureAwait(false);
                if (conn.IsLimited)
                {
                    throw new IOException("the only connection to the relay is itself relayed");
                }
                var info = await ReserveAsync(slot, conn, ct).ConfigureAwait(false);
                failures = 0;
                var renewed = ReferenceEquals(slot.Connection, conn) && slot.Current is not null;
                lock (_slots)
                {
                    slot.Connection = conn;
                    slot.Current = info;
                }
                _host.AddListenAddress(info.CircuitAddress);
                // The refresh timer starts before the event is raised: whoever reacts to it (a test advancing a fake
                // clock, say) finds the refresh already scheduled.
                var wait = RefreshDelay(info.Expire - _time.GetUtcNow(), _options.RefreshMargin);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, conn.Closed);
                var refreshDue = Task.Delay(wait, _time, linked.Token);
                if (renewed)
                {
                    RelayLog.Refreshed(_logger, slot.Relay, info.Expire);
                    Refreshed?.Invoke(info);
                }
                else
                {
                    RelayLog.Reserved(_logger, slot.Relay, info.Expire, info.CircuitAddress);
                    Reserved?.Invoke(info);
                }
                try
                {
                    await refreshDue.ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Drop(slot, "the relay connection closed" + (conn.CloseCause is { } c ? $" ({c})" : ""));
                    // Re-reserve at once; failures from here on back off.
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is IOException or TimeoutException or InvalidDataException or FormatException or OperationCanceledException or ObjectDisposedException)
            {
                failures++;
                var reason = e is OperationCanceledException ? "timed out" : e.Message;
                Drop(slot, "refresh failed: " + reason);
                var delay = Backoff(failures);
                RelayLog.ReserveFailed(_logger, slot.Address, reason, delay);
                Failed?.Invoke(slot.Address, reason);
                try
                {
                    await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        Drop(slot, null);
    }

    private void Drop(Slot slot, string? reason)
    {
        RelayReservationInfo? lost;
        lock (_slots)
        {
            lost = slot.Current;
            slot.Current = null;
            slot.Connection = null;
        }
        if (lost is null)
        {
            return;
        }
        _host.RemoveListenAddress(lost.CircuitAddress);
        if (reason is not null)
        {
            RelayLog.ReservationLost(_logger, slot.Relay, reason);
            Lost?.Invoke(lost, reason);
        }
    }

    private async Task<RelayReservationInfo> ReserveAsync(Slot slot, Libp2pConnection conn, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.RequestTimeout);
        HopMessage answer;
        await using (var hop = await _host.NewStreamAsync(conn, RelayProtocol.HopProtocolId, cts.Token).ConfigureAwait(false))
        {
            try
            {
                await RelayCodec.WriteAsync(hop.Output, HopMessage.Reserve(), cts.Token).ConfigureAwait(false);
                answer = await RelayCodec.ReadHopAsync(hop.Input, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                hop.Reset();
                throw new TimeoutException($"relay {slot.Relay} did not answer RESERVE within {_options.RequestTimeout.TotalSeconds:0.#} s");
            }
        }
        if (answer.Type != HopMessageType.Status)
        {
            throw new RelayException(RelayStatus.UnexpectedMessage, $"relay {slot.Relay} answered RESERVE with {answer.Type} instead of STATUS");
        }
        if (answer.Status != RelayStatus.Ok)
        {
            var status = answer.Status ?? RelayStatus.Unused;
            throw new RelayException(status, $"relay {slot.Relay} refused the reservation: {CircuitRelayTransport.Describe(status)}");
        }
        var reservation = answer.Reservation
            ?? throw new RelayException(RelayStatus.MalformedMessage, $"relay {slot.Relay} accepted the reservation but sent no reservation details");
        if (reservation.Voucher is { } voucherBytes)
        {
            RelayVoucher voucher;
            try
            {
                voucher = RelayVoucher.OpenSigned(voucherBytes);
            }
            catch (FormatException e)
            {
                throw new RelayException(RelayStatus.MalformedMessage, $"relay {slot.Relay} sent an invalid voucher: {e.Message}", e);
            }
            if (voucher.Relay != slot.Relay || voucher.Peer != _host.LocalPeer)
            {
                throw new RelayException(RelayStatus.MalformedMessage,
                    $"relay {slot.Relay} sent a voucher for relay {voucher.Relay} and peer {voucher.Peer}, not for itself and {_host.LocalPeer}");
            }
        }
        else if (_options.RequireVoucher)
        {
            throw new RelayException(RelayStatus.MalformedMessage, $"relay {slot.Relay} sent no voucher");
        }
        var expire = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(reservation.Expire, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
        if (answer.Limit is { } limit)
        {
            RelayLog.RelayLimits(_logger, slot.Relay, limit.Duration, limit.Data);
        }
        var circuit = slot.Address.Encapsulate("/p2p-circuit");
        return new RelayReservationInfo(slot.Relay, slot.Address, circuit, expire, answer.Limit, reservation.Addrs);
    }

    private async Task HandleStopAsync(StreamContext s, CancellationToken ct)
    {
        var relay = s.RemotePeer;
        StopMessage request;
        using (var read = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            read.CancelAfter(_options.RequestTimeout);
            try
            {
                request = await RelayCodec.ReadStopAsync(s.Input, read.Token).ConfigureAwait(false);
            }
            catch (RelayException e)
            {
                await RefuseStopAsync(s, relay, RelayStatus.MalformedMessage, e.Message, ct).ConfigureAwait(false);
                return;
            }
        }
        if (request.Type != StopMessageType.Connect)
        {
            await RefuseStopAsync(s, relay, RelayStatus.UnexpectedMessage, $"expected CONNECT, got {request.Type}", ct).ConfigureAwait(false);
            return;
        }
        if (request.Peer is null)
        {
            await RefuseStopAsync(s, relay, RelayStatus.MalformedMessage, "CONNECT without a peer", ct).ConfigureAwait(false);
            return;
        }
        if (s.Connection.IsLimited)
        {
            await RefuseStopAsync(s, relay, RelayStatus.PermissionDenied, "stop requests over a relayed connection are refused", ct).ConfigureAwait(false);
            return;
        }
        Slot? slot;
        lock (_slots)
        {
            slot = _slots.FirstOrDefault(x => x.Relay == relay && x.Current is not null);
        }
        if (slot is null)
        {
            await RefuseStopAsync(s, relay, RelayStatus.PermissionDenied, "we hold no reservation on this relay", ct).ConfigureAwait(false);
            return;
        }
        var source = request.Peer.Id;
        await RelayCodec.WriteAsync(s.Output, StopMessage.FromStatus(RelayStatus.Ok), ct).ConfigureAwait(false);
        RelayLog.IncomingCircuit(_logger, source, relay);
        var local = slot.Address.Encapsulate("/p2p-circuit");
        var remote = local.Encapsulate("/p2p/" + source);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var conn = await _host.AcceptUpgradedAsync(s, local, remote, () =>
        {
            closed.TrySetResult();
            return ValueTask.CompletedTask;
        }, isLimited: true).ConfigureAwait(false);
        if (conn is null)
        {
            return;
        }
        // The stream is the relayed connection's transport: keep it (the host disposes it when this returns).
        await closed.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task RefuseStopAsync(StreamContext s, PeerId relay, RelayStatus status, string reason, CancellationToken ct)
    {
        RelayLog.StopRefused(_logger, relay, status, reason);
        await RelayCodec.WriteAsync(s.Output, StopMessage.FromStatus(status), ct).ConfigureAwait(false);
        await s.Output.CompleteAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _started) == 1)
        {
            _host.RemoveStreamHandler(RelayProtocol.StopProtocolId);
        }
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed class Slot(Multiaddress address, PeerId relay)
    {
        public Multiaddress Address { get; } = address;

        public PeerId Relay { get; } = relay;

        public Libp2pConnection? Connection { get; set; }

        public RelayReservationInfo? Current { get; set; }
    }
}
