using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>
/// Circuit relay v2 service (the hop side): grants reservations with signed vouchers and relays CONNECT requests to
/// peers holding one, over the connection they reserved on (the relay never dials the target). Requests arriving
/// over a relayed connection are refused with PERMISSION_DENIED.
/// </summary>
public sealed class RelayService : IAsyncDisposable
{
    private readonly Libp2pHost _host;
    private readonly RelayServiceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, Entry> _reservations = [];
    private readonly Dictionary<PeerId, int> _circuitsPerPeer = [];
    private readonly CancellationTokenSource _stopping = new();
    private int _circuits;
    private int _started;

    public RelayService(Libp2pHost host, RelayServiceOptions? options = null, ILogger? logger = null)
    {
        _host = host ?? throw new ArgumentNullException(nameof(host));
        _options = options ?? new RelayServiceOptions();
        var errors = _options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid relay service options: " + string.Join("; ", errors), nameof(options));
        }
        _logger = logger ?? NullLogger.Instance;
        _time = host.Time;
    }

    public RelayServiceOptions Options => _options;

    /// <summary>Reservations currently held (expired ones are dropped lazily).</summary>
    public int ReservationCount
    {
        get
        {
            lock (_lock)
            {
                PurgeExpired(_time.GetUtcNow());
                return _reservations.Count;
            }
        }
    }

    /// <summary>Relayed connections currently open.</summary>
    public int CircuitCount => Volatile.Read(ref _circuits);

    /// <summary>Peers holding a reservation now.</summary>
    public IReadOnlyList<PeerId> ReservedPeers
    {
        get
        {
            lock (_lock)
            {
                PurgeExpired(_time.GetUtcNow());
                return [.. _reservations.Keys];
            }
        }
    }

    /// <summary>Serves the hop protocol on the host.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }
        _host.Disconnected += OnDisconnected;
        _host.SetStreamHandler(RelayProtocol.HopProtocolId, HandleHopAsync);
        RelayLog.ServiceStarted(_logger, _options.MaxReservations, _options.ReservationTtl, _options.MaxCircuitsPerPeer,
            _options.DataLimit == 0 ? "none" : _options.DataLimit + " bytes",
            _options.DurationLimit <= TimeSpan.Zero ? "none" : _options.DurationLimit.ToString());
    }

    private void OnDisconnected(Libp2pConnection conn)
    {
        lock (_lock)
        {
            if (_reservations.TryGetValue(conn.RemotePeer, out var e) && ReferenceEquals(e.Connection, conn))
            {
                _reservations.Remove(conn.RemotePeer);
                RelayLog.ReservationDropped(_logger, conn.RemotePeer, "its connection closed");
            }
        }
    }

    private async Task HandleHopAsync(StreamContext s, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        HopMessage request;
        using (var read = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
        {
            read.CancelAfter(_options.HandshakeTimeout);
            try
            {
                request = await RelayCodec.ReadHopAsync(s.Input, read.Token).ConfigureAwait(false);
            }
            catch (RelayException e)
            {
                await RefuseAsync(s, RelayStatus.MalformedMessage, e.Message, stop.Token).ConfigureAwait(false);
                return;
            }
        }
        if (s.Connection.IsLimited)
        {
            await RefuseAsync(s, RelayStatus.PermissionDenied, "hop requests over a relayed connection are refused", stop.Token).ConfigureAwait(false);
            return;
        }
        switch (request.Type)
        {
            case HopMessageType.Reserve:
                await HandleReserveAsync(s, stop.Token).ConfigureAwait(false);
                break;
            case HopMessageType.Connect:
                await HandleConnectAsync(s, request, stop.Token).ConfigureAwait(false);
                break;
            default:
                await RefuseAsync(s, RelayStatus.UnexpectedMessage, $"a {request.Type} message is not a request", stop.Token).ConfigureAwait(false);
                break;
        }
    }

    private async Task RefuseAsync(StreamContext s, RelayStatus status, string reason, CancellationToken ct)
    {
        RelayLog.HopRefused(_logger, s.RemotePeer, status, reason);
        await WriteAndCloseAsync(s, HopMessage.FromStatus(status), ct).ConfigureAwait(false);
    }

    private static async Task WriteAndCloseAsync(StreamContext s, HopMessage message, CancellationToken ct)
    {
        await RelayCodec.WriteAsync(s.Output, message, ct).ConfigureAwait(false);
        await s.Output.CompleteAsync().ConfigureAwait(false);
    }

    private async Task HandleReserveAsync(StreamContext s, CancellationToken ct)
    {
        var peer = s.RemotePeer;
        var now = _time.GetUtcNow();
        var expire = now + _options.ReservationTtl;
        var ip = IpOf(s.Connection.RemoteAddress);
        string? refusal = null;
        lock (_lock)
        {
            PurgeExpired(now);
            if (!_reservations.ContainsKey(peer))
            {
                if (_reservations.Count >= _options.MaxReservations)
                {
                    refusal = $"the relay holds its maximum of {_options.MaxReservations} reservations";
                }
                else if (_options.MaxReservationsPerIp > 0 && ip is not null
                    && _reservations.Values.Count(e => e.Ip == ip) >= _options.MaxReservationsPerIp)
                {
                    refusal = $"{ip} holds its maximum of {_options.MaxReservationsPerIp} reservations";
                }
            }
            if (refusal is null)
            {
                _reservations[peer] = new Entry(s.Connection, expire, ip);
            }
        }
        if (refusal is not null)
        {
            RelayLog.ReservationRefused(_logger, peer, RelayStatus.ResourceLimitExceeded, refusal);
            await WriteAndCloseAsync(s, HopMessage.FromStatus(RelayStatus.ResourceLimitExceeded), ct).ConfigureAwait(false);
            return;
        }
        var expireSeconds = (ulong)expire.ToUnixTimeSeconds();
        var addrs = _host.AdvertisedAddresses().Where(a => !a.IsRelayed).Take(16).Select(a => a.WithPeerId(_host.LocalPeer)).ToList();
        var voucher = new RelayVoucher(_host.LocalPeer, peer, expireSeconds).Seal(_host.Identity);
        var response = new HopMessage(HopMessageType.Status)
        {
            Status = RelayStatus.Ok,
            Reservation = new RelayReservation(expireSeconds, addrs, voucher),
            Limit = _options.WireLimit,
        };
        await WriteAndCloseAsync(s, response, ct).ConfigureAwait(false);
        RelayLog.ReservationAccepted(_logger, peer, expire);
    }

    private async Task HandleConnectAsync(StreamContext s, HopMessage request, CancellationToken ct)
    {
        var source = s.RemotePeer;
        if (request.Peer is null)
        {
            await RefuseAsync(s, RelayStatus.MalformedMessage, "CONNECT without a peer", ct).ConfigureAwait(false);
            return;
        }
        var target = request.Peer.Id;
        var targetConn = FindReservedConnection(target, out var missing);
        if (targetConn is null)
        {
            await RefuseCircuitAsync(s, source, target, RelayStatus.NoReservation, missing!, ct).ConfigureAwait(false);
            return;
        }
        if (!TryAcquireCircuit(source, target, out var full))
        {
            await RefuseCircuitAsync(s, source, target, RelayStatus.ResourceLimitExceeded, full!, ct).ConfigureAwait(false);
            return;
        }
        StreamContext? stop = null;
        try
        {
            var limit = _options.WireLimit;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshake.CancelAfter(_options.HandshakeTimeout);
                string? failure = null;
                try
                {
                    stop = await _host.NewStreamAsync(targetConn, RelayProtocol.StopProtocolId, handshake.Token).ConfigureAwait(false);
                    await RelayCodec.WriteAsync(stop.Output,
                        new StopMessage(StopMessageType.Connect) { Peer = new RelayPeer(source), Limit = limit }, handshake.Token).ConfigureAwait(false);
                    var answer = await RelayCodec.ReadStopAsync(stop.Input, handshake.Token).ConfigureAwait(false);
                    if (answer.Type != StopMessageType.Status)
                    {
                        failure = $"the target answered with {answer.Type} instead of STATUS";
                    }
                    else if (answer.Status != RelayStatus.Ok)
                    {
                        failure = $"the target refused: {answer.Status?.ToString() ?? "no status"}";
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    failure = $"the target did not answer within {_options.HandshakeTimeout.TotalSeconds:0.#} s";
                }
                catch (Exception e) when (e is IOException or TimeoutException or InvalidDataException or ObjectDisposedException or InvalidOperationException)
                {
                    failure = "stop handshake failed: " + e.Message;
                }
                if (failure is not null)
                {
                    stop?.Reset();
                    await RefuseCircuitAsync(s, source, target, RelayStatus.ConnectionFailed, failure, ct).ConfigureAwait(false);
                    return;
                }
            }
            await RelayCodec.WriteAsync(s.Output, new HopMessage(HopMessageType.Status) { Status = RelayStatus.Ok, Limit = limit }, ct).ConfigureAwait(false);
            RelayLog.CircuitOpened(_logger, source, target);
            var result = await RelayCircuit.RunAsync(s, s.Reset, stop!, stop!.Reset, _options.DataLimit, _options.DurationLimit, _time, ct).ConfigureAwait(false);
            RelayLog.CircuitEnded(_logger, source, target, result.End, result.Up, result.Down);
        }
        finally
        {
            ReleaseCircuit(source, target);
            if (stop is not null)
            {
                await stop.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RefuseCircuitAsync(StreamContext s, PeerId source, PeerId target, RelayStatus status, string reason, CancellationToken ct)
    {
        RelayLog.CircuitRefused(_logger, source, target, status, reason);
        await WriteAndCloseAsync(s, HopMessage.FromStatus(status), ct).ConfigureAwait(false);
    }

    private Libp2pConnection? FindReservedConnection(PeerId target, out string? missing)
    {
        lock (_lock)
        {
            PurgeExpired(_time.GetUtcNow());
            if (!_reservations.TryGetValue(target, out var entry))
            {
                missing = $"{target} holds no reservation";
                return null;
            }
            if (!entry.Connection.IsClosed)
            {
                missing = null;
                return entry.Connection;
            }
            var other = _host.GetConnection(target);
            if (other is null || other.IsLimited)
            {
                _reservations.Remove(target);
                missing = $"{target} is no longer connected";
                return null;
            }
            _reservations[target] = entry with { Connection = other };
            missing = null;
            return other;
        }
    }

    private bool TryAcquireCircuit(PeerId source, PeerId target, out string? refusal)
    {
        lock (_lock)
        {
            if (_circuits >= _options.MaxCircuits)
            {
                refusal = $"the relay carries its maximum of {_options.MaxCircuits} circuits";
                return false;
            }
            foreach (var p in new[] { source, target })
            {
                if (_circuitsPerPeer.GetValueOrDefault(p) >= _options.MaxCircuitsPerPeer)
                {
                    refusal = $"{p} has its maximum of {_options.MaxCircuitsPerPeer} circuits";
                    return false;
                }
            }
            _circuitsPerPeer[source] = _circuitsPerPeer.GetValueOrDefault(source) + 1;
            _circuitsPerPeer[target] = _circuitsPerPeer.GetValueOrDefault(target) + 1;
            _circuits++;
            refusal = null;
            return true;
        }
    }

    private void ReleaseCircuit(PeerId source, PeerId target)
    {
        lock (_lock)
        {
            foreach (var p in new[] { source, target })
            {
                var n = _circuitsPerPeer.GetValueOrDefault(p) - 1;
                if (n <= 0)
                {
                    _circuitsPerPeer.Remove(p);
                }
                else
                {
                    _circuitsPerPeer[p] = n;
                }
            }
            _circuits--;
        }
    }

    private void PurgeExpired(DateTimeOffset now)
    {
        List<PeerId>? expired = null;
        foreach (var (peer, e) in _reservations)
        {
            if (e.Expire <= now)
            {
                (expired ??= []).Add(peer);
            }
        }
        foreach (var p in expired ?? [])
        {
            _reservations.Remove(p);
            RelayLog.ReservationDropped(_logger, p, "it expired");
        }
    }

    private static string? IpOf(Multiaddress address)
    {
        var c = address.Components;
        return c.Count > 0 && (c[0].Protocol == MultiaddressProtocol.Ip4 || c[0].Protocol == MultiaddressProtocol.Ip6) ? c[0].Value : null;
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _started, 2) == 1)
        {
            _host.RemoveStreamHandler(RelayProtocol.HopProtocolId);
            _host.Disconnected -= OnDisconnected;
        }
        _stopping.Cancel();
        return ValueTask.CompletedTask;
    }

    private sealed record Entry(Libp2pConnection Connection, DateTimeOffset Expire, string? Ip);
}
