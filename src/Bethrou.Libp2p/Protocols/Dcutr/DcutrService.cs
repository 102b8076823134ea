using System.Net;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Protocols.Dcutr;

/// <summary>Hole punching settings.</summary>
public sealed class DcutrOptions
{
    /// <summary>Punch attempts per relayed connection (go and js: 3).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Bound on one CONNECT/CONNECT/SYNC exchange.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on the simultaneous dials of one attempt (covers SYN retransmissions after 1 s and 3 s).</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for identify on the relayed connection and on our relay connection.</summary>
    public TimeSpan IdentifyWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Once a direct connection exists, the relayed one is closed when it has carried no stream for this
    /// long (checked at this interval); zero keeps it.</summary>
    public TimeSpan RelayedCloseGrace { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// DCUtR (<c>/libp2p/dcutr</c>): turns a relayed connection into a direct one by TCP simultaneous open. The peer
/// holding the inbound relayed connection (B, e.g. a node behind NAT) starts: CONNECT with its observed addresses,
/// CONNECT back, SYNC, then both dial each other from their fixed reuse port, B after RTT/2. The peer that dialed
/// through the relay (A) runs the upgrade as initiator, B as responder. When punching fails the relayed connection
/// simply stays in use. Observed addresses come from identify on connections made from the reuse port (relays).
/// </summary>
public sealed class DcutrService : IDisposable
{
    private readonly Libp2pHost _host;
    private readonly DcutrOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _started;

    public DcutrService(Libp2pHost host, DcutrOptions? options = null, ILogger? logger = null)
    {
        _host = host ?? throw new ArgumentNullException(nameof(host));
        _options = options ?? new DcutrOptions();
        _logger = logger ?? NullLogger.Instance;
        _time = host.Time;
        Dialer = ReusePortTcpDialer.TryCreate();
    }

    /// <summary>The fixed-port dialer (null where port reuse is unavailable: then nothing is punched).</summary>
    public ReusePortTcpDialer? Dialer { get; }

    /// <summary>Raised on both sides when punching produced a direct connection: (direct, relayed).</summary>
    public event Action<Libp2pConnection, Libp2pConnection>? DirectConnectionEstablished;

    /// <summary>Raised by the initiating side (B) when every attempt failed: (peer, reason).</summary>
    public event Action<PeerId, string>? HolePunchFailed;

    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }
        _host.SetStreamHandler(HolePunchCodec.ProtocolId, HandleAsync);
        _host.Connected += OnConnected;
    }

    private void OnConnected(Libp2pConnection conn)
    {
        if (conn.IsLimited && !conn.IsOutbound && Dialer is not null)
        {
            _host.Track(InitiateAsync(conn), "dcutr");
        }
    }

    /// <summary>B: we hold the inbound relayed connection.</summary>
    private async Task InitiateAsync(Libp2pConnection relayed)
    {
        await Task.Yield();
        var peer = relayed.RemotePeer;
        var ct = relayed.Closed;
        string? failure = null;
        try
        {
            PeerInfo info;
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                wait.CancelAfter(_options.IdentifyWait);
                info = await relayed.Identified.WaitAsync(wait.Token).ConfigureAwait(false);
            }
            if (!info.Protocols.Contains(HolePunchCodec.ProtocolId))
            {
                DcutrLog.NotSupported(_logger, peer);
                return;
            }
            for (var attempt = 1; attempt <= _options.MaxAttempts && !ct.IsCancellationRequested; attempt++)
            {
                if (_host.GetConnection(peer) is { IsLimited: false })
                {
                    return;
                }
                var ours = await ObservedAddressesAsync(relayed, ct).ConfigureAwait(false);
                if (ours.Count == 0)
                {
                    failure = "we have no observed address from our fixed port (no relay connection identified yet)";
                    break;
                }
                try
                {
                    var direct = await AttemptAsync(relayed, ours, attempt, ct).ConfigureAwait(false);
                    DcutrLog.Succeeded(_logger, peer, direct.RemoteAddress, attempt);
                    DirectConnectionEstablished?.Invoke(direct, relayed);
                    if (_options.RelayedCloseGrace > TimeSpan.Zero)
                    {
                        _host.Track(CloseWhenIdleAsync(relayed, direct), "dcutr: close relayed connection");
                    }
                    return;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or TimeoutException
                    or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    failure = e is OperationCanceledException ? "timed out" : e.Message;
                    DcutrLog.AttemptFailed(_logger, peer, attempt, failure);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or IOException or ObjectDisposedException)
        {
            failure ??= ct.IsCancellationRequested ? "the relayed connection closed" : e.Message;
        }
        if (failure is not null)
        {
            DcutrLog.Failed(_logger, peer, failure);
            HolePunchFailed?.Invoke(peer, failure);
        }
    }

    private async Task<Libp2pConnection> AttemptAsync(Libp2pConnection relayed, IReadOnlyList<Multiaddress> ours, int attempt, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.StreamTimeout + _options.DialTimeout);
        await using var s = await _host.NewStreamAsync(relayed, HolePunchCodec.ProtocolId, cts.Token).ConfigureAwait(false);
        var start = _time.GetTimestamp();
        await HolePunchCodec.WriteAsync(s.Output, new HolePunchMessage(HolePunchType.Connect, ours), cts.Token).ConfigureAwait(false);
        var answer = await HolePunchCodec.ReadAsync(s.Input, cts.Token).ConfigureAwait(false);
        if (answer.Type != HolePunchType.Connect)
        {
            throw new InvalidDataException($"dcutr: expected CONNECT, got {answer.Type}");
        }
        var rtt = _time.GetElapsedTime(start);
        var targets = Dialable(answer.ObsAddrs);
        await HolePunchCodec.WriteAsync(s.Output, HolePunchMessage.Sync, cts.Token).ConfigureAwait(false);
        if (targets.Count == 0)
        {
            throw new IOException($"dcutr: {relayed.RemotePeer} sent no dialable address");
        }
        DcutrLog.Punching(_logger, relayed.RemotePeer, attempt, string.Join(' ', targets), rtt.TotalMilliseconds);
        await Task.Delay(rtt / 2, _time, cts.Token).ConfigureAwait(false);
        return await PunchAsync(targets, relayed.RemotePeer, initiator: false, ct).ConfigureAwait(false);
    }

    /// <summary>A: the other side opened the exchange over our outbound relayed connection.</summary>
    private async Task HandleAsync(StreamContext s, CancellationToken ct)
    {
        var relayed = s.Connection;
        if (!relayed.IsLimited || Dialer is null)
        {
            s.Reset();
            return;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.StreamTimeout);
        var connect = await HolePunchCodec.ReadAsync(s.Input, cts.Token).ConfigureAwait(false);
        if (connect.Type != HolePunchType.Connect)
        {
            throw new InvalidDataException($"dcutr: expected CONNECT, got {connect.Type}");
        }
        var ours = await ObservedAddressesAsync(relayed, cts.Token).ConfigureAwait(false);
        await HolePunchCodec.WriteAsync(s.Output, new HolePunchMessage(HolePunchType.Connect, ours), cts.Token).ConfigureAwait(false);
        var sync = await HolePunchCodec.ReadAsync(s.Input, cts.Token).ConfigureAwait(false);
        if (sync.Type != HolePunchType.Sync)
        {
            throw new InvalidDataException($"dcutr: expected SYNC, got {sync.Type}");
        }
        var targets = Dialable(connect.ObsAddrs);
        if (targets.Count == 0)
        {
            return;
        }
        try
        {
            var direct = await PunchAsync(targets, relayed.RemotePeer, initiator: true, ct).ConfigureAwait(false);
            DcutrLog.Succeeded(_logger, relayed.RemotePeer, direct.RemoteAddress, 0);
            DirectConnectionEstablished?.Invoke(direct, relayed);
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            DcutrLog.AttemptFailed(_logger, relayed.RemotePeer, 0, e is OperationCanceledException ? "timed out" : e.Message);
        }
    }

    /// <summary>Dials every target at once from the fixed port; the first upgraded connection wins.</summary>
    private async Task<Libp2pConnection> PunchAsync(IReadOnlyList<IPEndPoint> targets, PeerId peer, bool initiator, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.DialTimeout);
        var pending = targets.Select(t => PunchOneAsync(t, peer, initiator, cts.Token)).ToList();
        var errors = new List<string>();
        try
        {
            while (pending.Count > 0)
            {
                var done = await Task.WhenAny(pending).ConfigureAwait(false);
                pending.Remove(done);
                try
                {
                    return await done.ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException or ObjectDisposedException)
                {
                    errors.Add(e is OperationCanceledException ? "timed out" : e.Message);
                }
            }
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            foreach (var p in pending)
            {
                _host.Track(p, "dcutr: losing dial");
            }
        }
        ct.ThrowIfCancellationRequested();
        throw new IOException($"dcutr: no direct connection to {peer} ({string.Join("; ", errors.Distinct())})");
    }

    private async Task<Libp2pConnection> PunchOneAsync(IPEndPoint target, PeerId peer, bool initiator, CancellationToken ct)
    {
        var raw = await Dialer!.TryDialAsync(target, ct).ConfigureAwait(false)
            ?? throw new IOException($"dcutr: port {Dialer.Port} is busy towards {target}");
        if (initiator)
        {
            return await _host.UpgradeOutboundAsync(raw.Pipe, raw.LocalAddress, raw.RemoteAddress, peer, () => raw.DisposeAsync(), isLimited: false, ct)
                .ConfigureAwait(false);
        }
        var conn = await _host.AcceptUpgradedAsync(raw.Pipe, raw.LocalAddress, raw.RemoteAddress, () => raw.DisposeAsync(), isLimited: false)
            .ConfigureAwait(false) ?? throw new IOException($"dcutr: the upgrade of the punched connection to {target} failed");
        if (conn.RemotePeer != peer)
        {
            await conn.CloseAsync().ConfigureAwait(false);
            throw new IOException($"dcutr: {target} is {conn.RemotePeer}, not {peer}");
        }
        return conn;
    }

    /// <summary>Our addresses as seen by peers we reached from the fixed port (in practice: relays), IPv4 TCP only.</summary>
    private async Task<IReadOnlyList<Multiaddress>> ObservedAddressesAsync(Libp2pConnection relayed, CancellationToken ct)
    {
        var port = Dialer!.Port;
        var fromPort = _host.Connections.Where(c => !c.IsLimited && c.IsOutbound && c.LocalAddress.GetTcpEndpoint()?.Port == port).ToList();
        // Make sure identify with the relay of this circuit has finished (it carries our observed address).
        var relayPeer = relayed.RemoteAddress.SplitCircuit()?.Relay.PeerId;
        foreach (var c in fromPort.Where(c => c.RemotePeer == relayPeer))
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(_options.IdentifyWait);
            try
            {
                await c.Identified.WaitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidDataException or FormatException or TimeoutException or ObjectDisposedException)
            {
                ct.ThrowIfCancellationRequested();
            }
        }
        return [.. fromPort
            .Select(c => _host.PeerStore.TryGet(c.RemotePeer)?.ObservedAddress)
            .OfType<Multiaddress>()
            .Where(a => ReusePortTcpDialer.TryGetEndPoint(a) is not null)
            .Select(a => a.WithoutPeerId())
            .Distinct()
            .Take(8)];
    }

    private static List<IPEndPoint> Dialable(IReadOnlyList<Multiaddress> addrs) =>
        [.. addrs.Select(ReusePortTcpDialer.TryGetEndPoint).OfType<IPEndPoint>().Distinct().Take(8)];

    private async Task CloseWhenIdleAsync(Libp2pConnection relayed, Libp2pConnection direct)
    {
        while (!relayed.IsClosed && !direct.IsClosed)
        {
            try
            {
                await Task.Delay(_options.RelayedCloseGrace, _time, relayed.Closed).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (relayed.ActiveStreams == 0 && !direct.IsClosed)
            {
                DcutrLog.ClosingRelayed(_logger, relayed.RemotePeer);
                relayed.RecordCloseCause("replaced by a direct connection (hole punched)");
                await relayed.CloseAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _started, 2) == 1)
        {
            _host.Connected -= OnConnected;
        }
        Dialer?.Dispose();
    }
}

/// <summary>Connects to a relay from the hole-punching port when there is one (so the relay observes the mapping we will punch with).</summary>
internal static class PortReuseConnect
{
    public static async ValueTask<Libp2pConnection> ConnectAsync(Libp2pHost host, Multiaddress address, CancellationToken ct)
    {
        var dialer = host.HolePunching?.Dialer;
        var peer = address.PeerId;
        if (dialer is null || peer is null || ReusePortTcpDialer.TryGetEndPoint(address) is not { } ep)
        {
            return await host.ConnectAsync(address, ct).ConfigureAwait(false);
        }
        if (host.GetConnection(peer) is { IsLimited: false } existing)
        {
            return existing;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(host.Options.DialTimeout);
        try
        {
            var raw = await dialer.TryDialAsync(ep, cts.Token).ConfigureAwait(false);
            if (raw is null)
            {
                return await host.ConnectAsync(address, ct).ConfigureAwait(false);
            }
            host.PeerStore.GetOrAdd(peer).AddAddresses([address]);
            return await host.UpgradeOutboundAsync(raw.Pipe, raw.LocalAddress, raw.RemoteAddress, peer, () => raw.DisposeAsync(), isLimited: false, cts.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"dial {address} timed out after {host.Options.DialTimeout.TotalSeconds:0.#} s");
        }
    }
}

internal static partial class DcutrLog
{
    [LoggerMessage(4060, LogLevel.Debug, "Hole punch: {Peer} does not speak /libp2p/dcutr; staying relayed")]
    public static partial void NotSupported(ILogger logger, PeerId peer);

    [LoggerMessage(4061, LogLevel.Debug, "Hole punch to {Peer}, attempt {Attempt}: dialing {Targets} (relayed rtt {RttMs:0.#} ms)")]
    public static partial void Punching(ILogger logger, PeerId peer, int attempt, string targets, double rttMs);

    [LoggerMessage(4062, LogLevel.Information, "Hole punch to {Peer} succeeded (attempt {Attempt}): direct connection at {Address}")]
    public static partial void Succeeded(ILogger logger, PeerId peer, Multiaddress address, int attempt);

    [LoggerMessage(4063, LogLevel.Debug, "Hole punch to {Peer}, attempt {Attempt} failed: {Reason}")]
    public static partial void AttemptFailed(ILogger logger, PeerId peer, int attempt, string reason);

    [LoggerMessage(4064, LogLevel.Information, "Hole punch to {Peer} failed: {Reason}; the relayed connection stays in use")]
    public static partial void Failed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(4065, LogLevel.Debug, "Closing the relayed connection to {Peer}: a direct one replaced it")]
    public static partial void ClosingRelayed(ILogger logger, PeerId peer);
}
