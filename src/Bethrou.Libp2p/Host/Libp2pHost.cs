using System.Collections.Concurrent;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Multistream;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Protocols.Identify;
using Bethrou.Libp2p.Protocols.Ping;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Transport.Tcp;
using Bethrou.Libp2p.Upgrade;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Host;

/// <summary>Handles one inbound stream of a registered protocol. The host disposes the stream when the handler returns.</summary>
public delegate Task StreamHandler(StreamContext stream, CancellationToken ct);

/// <summary>
/// A libp2p host: listens, dials, upgrades connections (pnet → Noise → Yamux), runs identify and ping,
/// dispatches inbound streams to handlers by protocol id, and reuses one connection per peer for outbound streams.
/// </summary>
public sealed class Libp2pHost : IAsyncDisposable
{
    private readonly Libp2pHostOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConnectionUpgrader _upgrader;
    private readonly ConcurrentDictionary<string, StreamHandler> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, Libp2pConnection> _connections = new();
    private readonly ConcurrentDictionary<PeerId, Task<Libp2pConnection>> _pendingDials = new();
    private readonly List<TcpConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _upgradeSlots;
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private readonly List<IHostTransport> _extraTransports = [];
    private int _inboundCount;

    public Libp2pHost(Libp2pHostOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid host options: " + string.Join("; ", errors), nameof(options));
        }
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bethrou.Libp2p.Host");
        _time = time ?? TimeProvider.System;
        Identity = options.Identity!;
        LocalPeer = Identity.PeerId;
        _upgradeSlots = new SemaphoreSlim(options.MaxPendingInboundUpgrades);
        _upgrader = new ConnectionUpgrader(Identity, options.Psk, options.Yamux,
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bethrou.Libp2p.Yamux"), _time);
        SetStreamHandler(IdentifyMessage.ProtocolId, HandleIdentifyAsync);
        SetStreamHandler(IdentifyMessage.PushProtocolId, HandleIdentifyPushAsync);
        SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        if (options.EnableRelayTransport)
        {
            _extraTransports.Add(new Protocols.Relay.CircuitRelayTransport());
        }
        if (options.EnableHolePunching)
        {
            HolePunching = new Protocols.Dcutr.DcutrService(this, options.HolePunching,
                (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Bethrou.Libp2p.Dcutr"));
            HolePunching.Start();
        }
    }

    /// <summary>DCUtR hole punching (null when disabled).</summary>
    public Protocols.Dcutr.DcutrService? HolePunching { get; }

    public Crypto.Ed25519PrivateKey Identity { get; }

    public PeerId LocalPeer { get; }

    public PeerStore PeerStore { get; } = new();

    public ILogger Logger => _logger;

    public TimeProvider Time => _time;

    public Libp2pHostOptions Options => _options;

    /// <summary>Actual listen addresses (ports resolved), without /p2p.</summary>
    public IReadOnlyList<Multiaddress> ListenAddresses => [.. _listeners.Select(l => l.LocalAddress), .. _extraListenAddresses];

    private readonly List<Multiaddress> _extraListenAddresses = [];

    /// <summary>Extra addresses to advertise in identify (e.g. --announce, relay circuit addresses).</summary>
    public IList<Multiaddress> AnnounceAddresses { get; } = [];

    public IReadOnlyCollection<Libp2pConnection> Connections => [.. _connections.Values];

    public IReadOnlyCollection<string> Protocols => [.. _handlers.Keys];

    public event Action<Libp2pConnection>? Connected;

    public event Action<Libp2pConnection>? Disconnected;

    internal ConnectionUpgrader Upgrader => _upgrader;

    /// <summary>Adds a transport (e.g. circuit relay) consulted before TCP for addresses it can dial.</summary>
    public void AddTransport(IHostTransport transport) => _extraTransports.Add(transport);

    public void AddListenAddress(Multiaddress address)
    {
        lock (_extraListenAddresses)
        {
            if (!_extraListenAddresses.Contains(address))
            {
                _extraListenAddresses.Add(address);
            }
        }
    }

    public void RemoveListenAddress(Multiaddress address)
    {
        lock (_extraListenAddresses)
        {
            _extraListenAddresses.Remove(address);
        }
    }

    public void SetStreamHandler(string protocol, StreamHandler handler) => _handlers[protocol] = handler;

    public void RemoveStreamHandler(string protocol) => _handlers.TryRemove(protocol, out _);

    /// <summary>Binds every configured listen address and starts accepting.</summary>
    /// <exception cref="IOException">A listen address could not be bound.</exception>
    public Task StartAsync(CancellationToken ct = default)
    {
        foreach (var addr in _options.ListenAddresses)
        {
            var listener = TcpTransport.Listen(addr);
            _listeners.Add(listener);
            HostLog.Listening(_logger, listener.LocalAddress);
            _acceptLoops.Add(AcceptLoopAsync(listener));
        }
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync(TcpConnectionListener listener)
    {
        await Task.Yield();
        while (!_stopping.IsCancellationRequested)
        {
            var raw = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            if (raw is null)
            {
                return;
            }
            if (Volatile.Read(ref _inboundCount) >= _options.MaxInboundConnections)
            {
                HostLog.InboundRefused(_logger, raw.RemoteAddress, $"at the limit of {_options.MaxInboundConnections} inbound connections");
                raw.Pipe.Abort(new IOException("inbound connection limit"));
                await raw.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            Track(HandleInboundAsync(raw), "inbound upgrade");
        }
    }

    /// <summary>Runs an upgrade for an inbound raw pipe from any transport (TCP or relayed).</summary>
    internal async Task HandleInboundAsync(RawConnection raw) =>
        await AcceptUpgradedAsync(raw.Pipe, raw.LocalAddress, raw.RemoteAddress, () => raw.DisposeAsync(), isLimited: false).ConfigureAwait(false);

    /// <summary>Upgrades an inbound pipe (TCP or relayed) and registers the connection; failures are logged, never
    /// thrown (the result is then null and <paramref name="dispose"/> has run).</summary>
    public async Task<Libp2pConnection?> AcceptUpgradedAsync(System.IO.Pipelines.IDuplexPipe pipe, Multiaddress local, Multiaddress remote,
        Func<ValueTask> dispose, bool isLimited)
    {
        if (!await _upgradeSlots.WaitAsync(_options.UpgradeTimeout, _stopping.Token).ConfigureAwait(false))
        {
            HostLog.InboundRefused(_logger, remote, "too many handshakes in progress");
            await dispose().ConfigureAwait(false);
            return null;
        }
        ConnectionUpgrader.Result result;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            cts.CancelAfter(_options.UpgradeTimeout);
            result = await _upgrader.UpgradeInboundAsync(pipe, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            HostLog.InboundUpgradeFailed(_logger, remote, e.Message);
            await dispose().ConfigureAwait(false);
            return null;
        }
        finally
        {
            _upgradeSlots.Release();
        }
        Interlocked.Increment(ref _inboundCount);
        var conn = new Libp2pConnection(result.Secure.RemotePeer, result.Secure.RemotePublicKey, local, remote,
            isOutbound: false, result.Session, dispose, isLimited);
        Register(conn);
        return conn;
    }

    private void Register(Libp2pConnection conn)
    {
        _connections[conn.Id] = conn;
        var info = PeerStore.GetOrAdd(conn.RemotePeer);
        info.PublicKey ??= conn.RemotePublicKey;
        if (conn.IsOutbound && !conn.IsLimited)
        {
            info.AddAddresses([conn.RemoteAddress]);
        }
        HostLog.ConnectionOpened(_logger, conn.IsOutbound ? "to" : "from", conn.RemotePeer, conn.RemoteAddress);
        Track(StreamAcceptLoopAsync(conn), "stream accept loop");
        Track(RunIdentifyAsync(conn), "identify");
        conn.Closed.Register(() => Track(OnClosedAsync(conn), "connection close"));
        Connected?.Invoke(conn);
    }

    private async Task OnClosedAsync(Libp2pConnection conn)
    {
        await Task.Yield();
        if (!_connections.TryRemove(conn.Id, out _))
        {
            return;
        }
        if (!conn.IsOutbound)
        {
            Interlocked.Decrement(ref _inboundCount);
        }
        conn.RecordCloseCause(conn.Session.CloseException?.Message ?? conn.Session.CloseReason?.ToString() ?? "closed");
        HostLog.ConnectionClosed(_logger, conn.RemotePeer, conn.RemoteAddress, conn.CloseCause!);
        try
        {
            Disconnected?.Invoke(conn);
        }
        finally
        {
            await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task StreamAcceptLoopAsync(Libp2pConnection conn)
    {
        await Task.Yield();
        while (true)
        {
            YamuxStream? stream;
            try
            {
                stream = await conn.Session.AcceptStreamAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (stream is null)
            {
                return;
            }
            Track(HandleStreamAsync(conn, stream), "stream handler");
        }
    }

    private async Task HandleStreamAsync(Libp2pConnection conn, YamuxStream stream)
    {
        string protocol;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, conn.Closed);
            cts.CancelAfter(_options.NegotiationTimeout);
            protocol = await MultistreamSelect.HandleAsync(stream, (IReadOnlyCollection<string>)_handlers.Keys, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException)
        {
            HostLog.StreamNegotiationFailed(_logger, conn.RemotePeer, e is OperationCanceledException ? "timed out" : e.Message);
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        if (!_handlers.TryGetValue(protocol, out var handler))
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        var ctx = new StreamContext(conn, stream, protocol);
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, conn.Closed);
            await handler(ctx, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or StreamResetException)
        {
            ctx.Reset();
        }
        catch (Exception e)
        {
            HostLog.HandlerFailed(_logger, e, protocol, conn.RemotePeer);
            ctx.Reset();
        }
        finally
        {
            await ctx.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>An existing open connection to the peer, preferring direct over relayed.</summary>
    public Libp2pConnection? GetConnection(PeerId peer) =>
        _connections.Values.Where(c => c.RemotePeer == peer && !c.IsClosed)
            .OrderBy(c => c.IsLimited).ThenBy(c => c.Id).FirstOrDefault();

    /// <summary>Dials an address (reusing an open connection when the address names a connected peer).</summary>
    /// <exception cref="IOException">Dial or upgrade failure, tagged with its stage.</exception>
    public async ValueTask<Libp2pConnection> ConnectAsync(Multiaddress address, CancellationToken ct = default)
    {
        var peer = address.PeerId;
        if (peer is not null)
        {
            if (peer == LocalPeer)
            {
                throw new IOException($"refusing to dial ourselves ({address})");
            }
            var existing = GetConnection(peer);
            if (existing is not null)
            {
                return existing;
            }
            PeerStore.GetOrAdd(peer).AddAddresses([address]);
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        cts.CancelAfter(_options.DialTimeout);
        try
        {
            return await DialUpgradeAsync(address, peer, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"dial {address} timed out after {_options.DialTimeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Connects to a peer using an open connection or its known addresses (concurrent dials are joined).</summary>
    public async ValueTask<Libp2pConnection> ConnectAsync(PeerId peer, CancellationToken ct = default)
    {
        var existing = GetConnection(peer);
        if (existing is not null)
        {
            return existing;
        }
        var task = _pendingDials.GetOrAdd(peer, p => DialKnownAsync(p));
        try
        {
            return await task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            if (task.IsCompleted)
            {
                _pendingDials.TryRemove(new KeyValuePair<PeerId, Task<Libp2pConnection>>(peer, task));
            }
        }
    }

    private async Task<Libp2pConnection> DialKnownAsync(PeerId peer)
    {
        await Task.Yield();
        try
        {
            var addrs = PeerStore.TryGet(peer)?.Addresses ?? [];
            if (addrs.Count == 0)
            {
                throw new IOException($"no known addresses for {peer}");
            }
            return await DialRaceAsync(peer, addrs).ConfigureAwait(false);
        }
        finally
        {
            _pendingDials.TryRemove(peer, out _);
        }
    }

    /// <summary>
    /// Direct addresses are dialled at once, in parallel; relayed ones join after <see cref="Libp2pHostOptions.RelayDialDelay"/>
    /// or as soon as every direct dial has failed. The first connection wins and the other dials are cancelled; the
    /// whole race is bounded by one <see cref="Libp2pHostOptions.DialTimeout"/>.
    /// </summary>
    private async Task<Libp2pConnection> DialRaceAsync(PeerId peer, IReadOnlyList<Multiaddress> addrs)
    {
        var direct = addrs.Where(a => !a.IsRelayed).ToList();
        var relayed = addrs.Where(a => a.IsRelayed).ToList();
        var errors = new ConcurrentQueue<string>();
        using var race = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        race.CancelAfter(_options.DialTimeout);
        var pending = direct.Select(a => TryDialAsync(a, peer, errors, race.Token)).ToList();
        Task? relayGate = relayed.Count == 0 ? null
            : direct.Count == 0 ? Task.CompletedTask
            : DelayQuietlyAsync(_options.RelayDialDelay, race.Token);
        Libp2pConnection? winner = null;
        try
        {
            while (winner is null)
            {
                if (relayGate is not null && (relayGate.IsCompleted || pending.Count == 0))
                {
                    relayGate = null;
                    pending.AddRange(relayed.Select(a => TryDialAsync(a, peer, errors, race.Token)));
                }
                if (pending.Count == 0)
                {
                    break;
                }
                var done = relayGate is null
                    ? await Task.WhenAny(pending).ConfigureAwait(false)
                    : await Task.WhenAny([.. pending, relayGate]).ConfigureAwait(false);
                if (done is Task<Libp2pConnection?> dial)
                {
                    pending.Remove(dial);
                    winner = await dial.ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await race.CancelAsync().ConfigureAwait(false);
            // Losers end promptly once cancelled; a loser that finished anyway stays registered (GetConnection prefers direct).
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
        if (winner is not null)
        {
            return winner;
        }
        _stopping.Token.ThrowIfCancellationRequested();
        throw new IOException($"could not reach {peer} within {_options.DialTimeout.TotalSeconds:0.#} s: " + string.Join("; ", errors));
    }

    private async Task<Libp2pConnection?> TryDialAsync(Multiaddress address, PeerId peer, ConcurrentQueue<string> errors, CancellationToken ct)
    {
        await Task.Yield();
        try
        {
            return await ConnectAsync(address.WithPeerId(peer), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            errors.Enqueue($"{address}: cancelled (timed out or another address won)");
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidDataException or ObjectDisposedException)
        {
            errors.Enqueue($"{address}: {e.Message}");
        }
        return null;
    }

    private async Task DelayQuietlyAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async ValueTask<Libp2pConnection> DialUpgradeAsync(Multiaddress address, PeerId? expected, CancellationToken ct)
    {
        foreach (var t in _extraTransports)
        {
            if (t.CanDial(address))
            {
                return await t.DialAsync(this, address, ct).ConfigureAwait(false);
            }
        }
        if (!TcpTransport.CanDial(address))
        {
            throw new IOException($"no transport can dial {address}");
        }
        var raw = await TcpTransport.DialAsync(address, ct).ConfigureAwait(false);
        return await UpgradeOutboundAsync(raw.Pipe, raw.LocalAddress, raw.RemoteAddress, expected, () => raw.DisposeAsync(), isLimited: false, ct).ConfigureAwait(false);
    }

    /// <summary>Upgrades an outbound pipe (TCP or relayed) and registers the connection.</summary>
    public async ValueTask<Libp2pConnection> UpgradeOutboundAsync(System.IO.Pipelines.IDuplexPipe pipe, Multiaddress local, Multiaddress remote,
        PeerId? expected, Func<ValueTask> dispose, bool isLimited, CancellationToken ct)
    {
        ConnectionUpgrader.Result result;
        try
        {
            result = await _upgrader.UpgradeOutboundAsync(pipe, expected, ct).ConfigureAwait(false);
        }
        catch
        {
            await dispose().ConfigureAwait(false);
            throw;
        }
        var conn = new Libp2pConnection(result.Secure.RemotePeer, result.Secure.RemotePublicKey, local, remote,
            isOutbound: true, result.Session, dispose, isLimited);
        Register(conn);
        return conn;
    }

    /// <summary>Opens a stream of the given protocol to a peer, reusing (or making) a connection.</summary>
    public async ValueTask<StreamContext> NewStreamAsync(PeerId peer, string protocol, CancellationToken ct = default)
    {
        var conn = await ConnectAsync(peer, ct).ConfigureAwait(false);
        return await NewStreamAsync(conn, protocol, ct).ConfigureAwait(false);
    }

    /// <summary>Opens a stream on a given connection and negotiates the protocol.</summary>
    /// <exception cref="NegotiationFailedException">The remote does not speak the protocol.</exception>
    public async ValueTask<StreamContext> NewStreamAsync(Libp2pConnection conn, string protocol, CancellationToken ct = default)
    {
        var stream = await conn.Session.OpenStreamAsync(ct).ConfigureAwait(false);
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, conn.Closed);
            cts.CancelAfter(_options.NegotiationTimeout);
            await MultistreamSelect.SelectOneAsync(stream, [protocol], cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"negotiating {protocol} with {conn.RemotePeer} timed out");
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new StreamContext(conn, stream, protocol);
    }

    /// <summary>
    /// Opens a stream and writes the multistream header and proposal without waiting for the answer (go's lazy select):
    /// the caller writes its first bytes, flushes once, and must call
    /// <see cref="MultistreamSelect.ReadLazyAnswerAsync"/> on <see cref="StreamContext.Input"/> before reading.
    /// </summary>
    public async ValueTask<StreamContext> NewStreamLazyAsync(Libp2pConnection conn, string protocol, CancellationToken ct = default)
    {
        // The SYN waits for the caller's first flush, which carries it with the proposal and the caller's own bytes.
        var stream = await conn.Session.OpenStreamAsync(synWithFirstWrite: true, ct).ConfigureAwait(false);
        MultistreamSelect.WriteLazyProposal(stream.Output, protocol);
        return new StreamContext(conn, stream, protocol);
    }

    /// <summary>True when identify said the peer accepts <paramref name="protocol"/> (lazy select is then safe).</summary>
    public bool PeerSupports(PeerId peer, string protocol) =>
        PeerStore.TryGet(peer)?.Protocols.Contains(protocol, StringComparer.Ordinal) == true;

    /// <summary>Measures round-trip time with /ipfs/ping/1.0.0.</summary>
    public async ValueTask<TimeSpan> PingAsync(PeerId peer, CancellationToken ct = default)
    {
        await using var s = await NewStreamAsync(peer, PingProtocol.ProtocolId, ct).ConfigureAwait(false);
        return await PingProtocol.PingOnceAsync(s, _time, ct).ConfigureAwait(false);
    }

    public async ValueTask<TimeSpan> PingAsync(Libp2pConnection conn, CancellationToken ct = default)
    {
        await using var s = await NewStreamAsync(conn, PingProtocol.ProtocolId, ct).ConfigureAwait(false);
        return await PingProtocol.PingOnceAsync(s, _time, ct).ConfigureAwait(false);
    }

    private IdentifyMessage BuildIdentify(Libp2pConnection conn)
    {
        var msg = new IdentifyMessage
        {
            ProtocolVersion = _options.ProtocolVersion,
            AgentVersion = _options.AgentVersion,
            PublicKey = Identity.PublicKey.Marshal(),
            ObservedAddr = conn.IsLimited ? null : conn.RemoteAddress,
        };
        msg.ListenAddrs.AddRange(AdvertisedAddresses());
        msg.Protocols.AddRange(_handlers.Keys.Order(StringComparer.Ordinal));
        var record = new Records.PeerRecord(LocalPeer, (ulong)_time.GetUtcNow().ToUnixTimeMilliseconds() * 1000, msg.ListenAddrs);
        var env = record.Seal(Identity).Marshal();
        if (env.Length < 2048)
        {
            msg.SignedPeerRecord = env;
        }
        return msg;
    }

    /// <summary>Addresses we tell others to dial: announce addresses if set, else listen addresses (unspecified ones expanded).</summary>
    public IReadOnlyList<Multiaddress> AdvertisedAddresses()
    {
        if (AnnounceAddresses.Count > 0)
        {
            return [.. AnnounceAddresses, .. _extraListenAddresses];
        }
        var list = new List<Multiaddress>();
        foreach (var a in ListenAddresses)
        {
            list.AddRange(AddressExpansion.Expand(a));
        }
        return list.Distinct().ToList();
    }

    private async Task HandleIdentifyAsync(StreamContext s, CancellationToken ct)
    {
        var msg = BuildIdentify(s.Connection);
        Records.Delimited.Write(s.Output, msg.Marshal());
        await s.Output.FlushAsync(ct).ConfigureAwait(false);
        await s.Output.CompleteAsync().ConfigureAwait(false);
        // Drain until the remote closes (bounded by the identify timeout).
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.IdentifyTimeout);
        try
        {
            while (true)
            {
                var r = await s.Input.ReadAsync(cts.Token).ConfigureAwait(false);
                s.Input.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task HandleIdentifyPushAsync(StreamContext s, CancellationToken ct)
    {
        var merged = await ReadIdentifyAsync(s, ct).ConfigureAwait(false);
        ApplyIdentify(s.Connection, merged, push: true);
    }

    private async Task<IdentifyMessage> ReadIdentifyAsync(StreamContext s, CancellationToken ct)
    {
        var merged = new IdentifyMessage();
        for (var i = 0; i < IdentifyMessage.MaxMessages; i++)
        {
            var m = await Records.Delimited.ReadAsync(s.Input, IdentifyMessage.MaxMessageSize, ct).ConfigureAwait(false);
            if (m is null)
            {
                return merged;
            }
            merged.MergeFrom(m);
        }
        throw new InvalidDataException($"identify: more than {IdentifyMessage.MaxMessages} messages");
    }

    private async Task RunIdentifyAsync(Libp2pConnection conn)
    {
        await Task.Yield();
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, conn.Closed);
            cts.CancelAfter(_options.IdentifyTimeout);
            await using var s = await NewStreamAsync(conn, IdentifyMessage.ProtocolId, cts.Token).ConfigureAwait(false);
            await s.Output.CompleteAsync().ConfigureAwait(false);
            var msg = await ReadIdentifyAsync(s, cts.Token).ConfigureAwait(false);
            conn.SetIdentified(ApplyIdentify(conn, msg, push: false));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException or FormatException or TimeoutException)
        {
            HostLog.IdentifyFailed(_logger, conn.RemotePeer, e.Message);
            conn.SetIdentifyFailed(e is OperationCanceledException ? new TimeoutException("identify timed out") : e);
            _ = conn.Identified.Exception;
        }
    }

    private PeerInfo ApplyIdentify(Libp2pConnection conn, IdentifyMessage msg, bool push)
    {
        var info = PeerStore.GetOrAdd(conn.RemotePeer);
        if (msg.PublicKey is not null)
        {
            var key = Crypto.PublicKey.Unmarshal(msg.PublicKey);
            if (!conn.RemotePeer.Matches(key))
            {
                throw new InvalidDataException($"identify: public key does not match peer id {conn.RemotePeer}");
            }
            info.PublicKey = key;
        }
        else if (!push)
        {
            throw new InvalidDataException("identify: the remote sent no public key");
        }
        if (msg.AgentVersion is not null)
        {
            info.AgentVersion = msg.AgentVersion;
        }
        if (msg.ProtocolVersion is not null)
        {
            info.ProtocolVersion = msg.ProtocolVersion;
        }
        if (msg.Protocols.Count > 0 || !push)
        {
            info.SetProtocols(msg.Protocols);
        }
        if (msg.ObservedAddr is not null)
        {
            info.ObservedAddress = msg.ObservedAddr;
        }
        IReadOnlyList<Multiaddress> addrs = msg.ListenAddrs;
        if (msg.SignedPeerRecord is not null)
        {
            try
            {
                var rec = Records.PeerRecord.OpenSigned(msg.SignedPeerRecord);
                if (rec.PeerId == conn.RemotePeer)
                {
                    addrs = rec.Addresses;
                }
            }
            catch (FormatException)
            {
                // an invalid record is ignored; the plain listen addresses still count
            }
        }
        info.AddAddresses(addrs);
        return info;
    }

    /// <summary>Observes a background task: faults are logged, never lost; disposal waits (bounded) for it.</summary>
    public void Track(Task task, string name)
    {
        if (task.IsCompleted)
        {
            if (task.IsFaulted)
            {
                HostLog.BackgroundFaulted(_logger, task.Exception!, name);
            }
            return;
        }
        _background[task] = 0;
        task.ContinueWith((t, state) =>
        {
            var self = (Libp2pHost)state!;
            self._background.TryRemove(t, out _);
            if (t.IsFaulted)
            {
                HostLog.BackgroundFaulted(self._logger, t.Exception!, name);
            }
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        HolePunching?.Dispose();
        foreach (var l in _listeners)
        {
            await l.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var c in _connections.Values)
        {
            c.RecordCloseCause("host stopped");
            try
            {
                await c.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
            {
            }
            await c.DisposeAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        var pending = _background.Keys.ToArray();
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5), _time)).ConfigureAwait(false);
    }
}

/// <summary>A transport the host can dial through besides TCP (e.g. circuit relay).</summary>
public interface IHostTransport
{
    bool CanDial(Multiaddress address);

    ValueTask<Libp2pConnection> DialAsync(Libp2pHost host, Multiaddress address, CancellationToken ct);
}
