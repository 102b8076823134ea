using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bethrou.Discovery;

/// <summary>
/// A client's live view of the nodes in Redis discovery, merged with static nodes.
/// <para>
/// <see cref="StartAsync"/> subscribes to <c>T:events</c>, then reads every <c>T:node:*</c> record (SCAN + pipelined
/// GET/PTTL, each record's signature and peer id checked) and returns: it never waits out a timeout. Joins and leaves
/// then arrive by pub/sub; each record is re-checked when its TTL would run out, so a node that stops refreshing
/// disappears within its TTL plus <see cref="RedisDiscoveryOptions.CheckInterval"/>. Go Bethrou nodes are found with
/// Go's discover request, re-sent every <see cref="RedisDiscoveryOptions.GoRequeryInterval"/>; their (unsigned)
/// replies are merged as they arrive.
/// </para>
/// <para>
/// While Redis is unreachable nothing is dropped; after it comes back every record gets a full TTL of grace to be
/// re-announced (Redis may have restarted empty), and the set is read again.
/// </para>
/// All state changes happen on one loop, so <see cref="Changed"/> handlers see changes in order (keep them quick).
/// </summary>
public sealed class RedisNodeDirectory : IAsyncDisposable
{
    private const int ReadChunk = 1000;
    private const int MaxTombstones = 100_000;
    private const long KeyMissing = -2;
    private const long NoExpiry = -1;

    private readonly RedisDiscoveryOptions _options;
    private readonly RedisConnectionFactory? _factory;
    private readonly bool _ownsConnection;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Work> _inbox = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<PeerId, Entry> _entries = [];
    private readonly Dictionary<PeerId, (ulong Seq, long Until)> _tombstones = [];
    private readonly List<Channel<NodeChange>> _watchers = [];
    private readonly Action<RedisChannel, RedisValue> _eventHandler;
    private readonly RedisChannel _events;
    private readonly RedisChannel _topic;
    private IConnectionMultiplexer? _connection;
    private volatile ImmutableDictionary<PeerId, DiscoveredNode> _snapshot = ImmutableDictionary<PeerId, DiscoveredNode>.Empty;
    private Task? _loop;
    private Task? _ticker;
    private Task? _goLoop;
    private int _state; // 0 new, 1 running, 2 stopped
    private bool _scanning;
    private bool _rescanAfter;
    // StartAsync's scan, asked for while another was in flight: it waits for the follow-up scan, which starts after
    // the request (the one in flight may have read the keys before what it waits for was written). StartAsync runs
    // once, so there is at most one.
    private TaskCompletionSource? _rescanWaiter;
    private long _nextFullScan;
    private long _followUpScan = long.MaxValue;
    private int _checkFailures;
    private int _scanFailures;
    private long _goRoundsDone;
    private long _lastTombstoneSweep;

    /// <summary>A directory that connects with <paramref name="connect"/> (default: <see cref="RedisConnections"/>) and owns that connection.</summary>
    public RedisNodeDirectory(
        RedisDiscoveryOptions options,
        ILogger logger,
        TimeProvider? time = null,
        RedisConnectionFactory? connect = null,
        IEnumerable<StaticNode>? staticNodes = null)
        : this(options, logger, time, connect, null, staticNodes)
    {
    }

    /// <summary>A directory on a connection shared with others (not disposed by this directory).</summary>
    public RedisNodeDirectory(
        RedisDiscoveryOptions options,
        IConnectionMultiplexer connection,
        ILogger logger,
        TimeProvider? time = null,
        IEnumerable<StaticNode>? staticNodes = null)
        : this(options, logger, time, null, connection ?? throw new ArgumentNullException(nameof(connection)), staticNodes)
    {
    }

    private RedisNodeDirectory(
        RedisDiscoveryOptions options,
        ILogger logger,
        TimeProvider? time,
        RedisConnectionFactory? connect,
        IConnectionMultiplexer? connection,
        IEnumerable<StaticNode>? staticNodes)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _options = options.Clone();
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? TimeProvider.System;
        _connection = connection;
        _ownsConnection = connection is null;
        _factory = connect ?? (connection is null ? RedisConnections.For(_options, "bethrou-client", logger) : null);
        _events = RedisChannel.Literal(_options.EventsChannel);
        _topic = RedisChannel.Literal(_options.Topic);
        _eventHandler = (_, v) => _inbox.Writer.TryWrite(new EventMessage((byte[]?)v ?? []));
        var now = _time.GetUtcNow();
        foreach (var s in staticNodes ?? [])
        {
            if (!_entries.TryGetValue(s.PeerId, out var e))
            {
                e = new Entry(s.PeerId) { LastSeen = now };
                _entries.Add(s.PeerId, e);
            }
            e.Static = [.. (e.Static ?? []).Concat(NodeRecords.OwnAddresses(s.PeerId, s.Addresses, out _)).Distinct()];
        }
        foreach (var e in _entries.Values)
        {
            _snapshot = _snapshot.SetItem(e.Id, View(e)!);
        }
    }

    /// <summary>The current nodes (an immutable snapshot).</summary>
    public IReadOnlyCollection<DiscoveredNode> Snapshot => (IReadOnlyCollection<DiscoveredNode>)_snapshot.Values.ToList();

    public int Count => _snapshot.Count;

    /// <summary>Raised on the directory's loop for every join, update and leave, in order. Handlers must not block.</summary>
    public event Action<NodeChange>? Changed;

    public DiscoveredNode? TryGet(PeerId id) => _snapshot.GetValueOrDefault(id);

    /// <summary>
    /// The current nodes as <see cref="NodeChangeKind.Joined"/> changes, then every change as it happens, until
    /// <paramref name="ct"/> is cancelled or the directory stops.
    /// </summary>
    public async IAsyncEnumerable<NodeChange> WatchAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var channel = Channel.CreateUnbounded<NodeChange>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        if (Volatile.Read(ref _state) != 2 && _inbox.Writer.TryWrite(new AddWatcher(channel)))
        {
            // The loop (once started) replays the snapshot into the channel and adds it to the watchers.
        }
        else
        {
            foreach (var n in _snapshot.Values)
            {
                channel.Writer.TryWrite(new NodeChange(NodeChangeKind.Joined, n, NodeLeftReason.None));
            }
            channel.Writer.TryComplete();
        }
        try
        {
            await foreach (var c in channel.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                yield return c;
            }
        }
        finally
        {
            _inbox.Writer.TryWrite(new RemoveWatcher(channel));
        }
    }

    /// <summary>
    /// Connects (if needed), subscribes, reads the whole live set and returns; Go nodes' replies are merged later as
    /// they arrive. An unreachable Redis does not fail this (static nodes are there; reading is retried).
    /// </summary>
    /// <exception cref="RedisDiscoveryException">Redis refused the credentials.</exception>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the directory was already started");
        }
        var started = _time.GetTimestamp();
        try
        {
            _connection ??= await _factory!(ct).ConfigureAwait(false);
        }
        catch
        {
            _state = 2;
            throw;
        }
        _connection.ConnectionFailed += OnConnectionFailed;
        _connection.ConnectionRestored += OnConnectionRestored;
        try
        {
            await _connection.GetSubscriber().SubscribeAsync(_events, _eventHandler).ConfigureAwait(false);
        }
        catch (RedisException e)
        {
            DiscoveryLog.SubscribeDeferred(_logger, _options.EventsChannel, RedisConnections.FirstLine(e.Message));
        }
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        TaskObserver.Observe(_loop, _logger, "discovery directory loop");

        var scanned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _inbox.Writer.TryWrite(new ScanNow(scanned));
        await scanned.Task.WaitAsync(ct).ConfigureAwait(false);
        DiscoveryLog.DirectoryStarted(_logger, _options.Topic, _snapshot.Count, (long)_time.GetElapsedTime(started).TotalMilliseconds);
        if (Volatile.Read(ref _state) != 1)
        {
            return; // stopped meanwhile
        }

        _ticker = TickAsync();
        TaskObserver.Observe(_ticker, _logger, "discovery directory ticker");
        if (_options.GoCompatibility)
        {
            _goLoop = GoLoopAsync();
            TaskObserver.Observe(_goLoop, _logger, "discovery Go rounds");
        }
    }

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            if (_ownsConnection && _connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
            }
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        _inbox.Writer.TryComplete();
        foreach (var t in new[] { _loop, _ticker, _goLoop })
        {
            if (t is not null)
            {
                try
                {
                    await t.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        foreach (var w in _watchers)
        {
            w.Writer.TryComplete();
        }
        var connection = _connection!;
        connection.ConnectionFailed -= OnConnectionFailed;
        connection.ConnectionRestored -= OnConnectionRestored;
        try
        {
            await connection.GetSubscriber().UnsubscribeAsync(_events, _eventHandler).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisNodeAnnouncer.IsRedisFailure(e))
        {
            DiscoveryLog.SubscribeDeferred(_logger, _options.EventsChannel, RedisConnections.FirstLine(e.Message));
        }
        if (_ownsConnection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    // ---------------------------------------------------------------- the loop (all state lives here)

    private async Task LoopAsync()
    {
        var reader = _inbox.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var work))
            {
                try
                {
                    Handle(work);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    DiscoveryLog.BackgroundFault(_logger, "discovery directory step " + work.GetType().Name, e);
                }
            }
        }
        // Stopped: nobody will run the follow-up scan it waits for.
        _rescanWaiter?.TrySetResult();
        _rescanWaiter = null;
    }

    private void Handle(Work work)
    {
        switch (work)
        {
            case EventMessage m:
                OnEvent(m.Payload);
                break;
            case GoReply r:
                OnGoReply(r.Payload, r.Round);
                break;
            case ReadResult r:
                OnReadResult(r);
                break;
            case ScanNow s:
                StartScan(s.Done);
                break;
            case Tick:
                OnTick();
                break;
            case Restored:
                OnRestored();
                break;
            case GoRoundDone d:
                OnGoRoundDone(d.Published);
                break;
            case AddWatcher a:
                foreach (var n in _snapshot.Values)
                {
                    a.Channel.Writer.TryWrite(new NodeChange(NodeChangeKind.Joined, n, NodeLeftReason.None));
                }
                _watchers.Add(a.Channel);
                break;
            case RemoveWatcher r:
                _watchers.Remove(r.Channel);
                break;
        }
    }

    private long Now => _time.GetTimestamp();

    private long After(TimeSpan t) => Now + (long)(t.TotalSeconds * _time.TimestampFrequency);

    private void OnEvent(byte[] payload)
    {
        if (!DiscoveryMessages.TryParse(payload, _options.MaxMessageBytes, out var msg, out var error))
        {
            DiscoveryLog.MalformedMessage(_logger, _options.EventsChannel, error);
            return;
        }
        switch (msg.Kind)
        {
            case DiscoveryMessageKind.Join:
                // The TTL in the message is unsigned: it may only bring the first key check forward, never push it back.
                ApplyRecord(msg.Envelope!, null, msg.Ttl is { } t && Clamp(t) < _options.Ttl ? Clamp(t) : _options.Ttl, "join on " + _options.EventsChannel, fromKey: false);
                break;
            case DiscoveryMessageKind.Leave:
                ApplyLeave(msg.Envelope!);
                break;
            default:
                DiscoveryLog.MalformedMessage(_logger, _options.EventsChannel, $"unexpected {msg.Kind} message");
                break;
        }
    }

    private static TimeSpan Clamp(TimeSpan ttl) =>
        ttl < TimeSpan.FromMilliseconds(500) ? TimeSpan.FromMilliseconds(500) : ttl > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : ttl;

    /// <summary>Takes in a signed record (from a key, a join or a reply); the next key check is due after <paramref name="validFor"/>.</summary>
    private void ApplyRecord(byte[] envelope, PeerId? expected, TimeSpan validFor, string source, bool fromKey) =>
        ApplyRecord(Open(envelope), expected, validFor, source, fromKey);

    private Opened Open(byte[] envelope) =>
        NodeRecords.TryOpen(envelope, _options.MaxMessageBytes, out var record, out var error) ? new Opened(record, null) : new Opened(null, error);

    private void ApplyRecord(Opened opened, PeerId? expected, TimeSpan validFor, string source, bool fromKey)
    {
        if (opened.Record is not { } record)
        {
            DiscoveryLog.Rejected(_logger, fromKey, source, opened.Error!);
            return;
        }
        if (expected is not null && record.PeerId != expected)
        {
            DiscoveryLog.Rejected(_logger, fromKey, source, $"the key names {expected} but the record is signed by {record.PeerId}");
            return;
        }
        var id = record.PeerId;
        if (_tombstones.TryGetValue(id, out var tomb))
        {
            if (record.Seq <= tomb.Seq)
            {
                DiscoveryLog.StaleRecord(_logger, id, record.Seq, tomb.Seq);
                return;
            }
            _tombstones.Remove(id);
        }
        if (!_entries.TryGetValue(id, out var entry))
        {
            entry = new Entry(id);
            _entries.Add(id, entry);
        }
        if (entry.Record is not null && record.Seq < entry.Record.Seq)
        {
            DiscoveryLog.StaleRecord(_logger, id, record.Seq, entry.Record.Seq);
            if (fromKey)
            {
                // The key is alive even if its content is older than a join we saw: keep the liveness information.
                entry.Deadline = After(validFor);
            }
            return;
        }
        if (entry.Record is null || record.Seq > entry.Record.Seq)
        {
            entry.Record = record with { Addresses = NodeRecords.OwnAddresses(id, record.Addresses, out _) };
        }
        if (!fromKey)
        {
            entry.Ttl = validFor;
        }
        entry.Deadline = After(validFor);
        entry.LastSeen = _time.GetUtcNow();
        Publish(entry, NodeLeftReason.None);
    }

    private void ApplyLeave(byte[] envelope)
    {
        if (!NodeRecords.TryOpen(envelope, _options.MaxMessageBytes, out var record, out var error))
        {
            DiscoveryLog.MessageRecordRejected(_logger, "leave on " + _options.EventsChannel, error);
            return;
        }
        if (record.Addresses.Count != 0)
        {
            DiscoveryLog.MessageRecordRejected(_logger, "leave on " + _options.EventsChannel, "a leave record must have no addresses");
            return;
        }
        var id = record.PeerId;
        if (_entries.TryGetValue(id, out var entry) && entry.Record is not null && record.Seq <= entry.Record.Seq)
        {
            DiscoveryLog.StaleRecord(_logger, id, record.Seq, entry.Record.Seq);
            return;
        }
        if (_tombstones.Count < MaxTombstones || _tombstones.ContainsKey(id))
        {
            _tombstones[id] = (record.Seq, After(_options.Ttl * 2));
        }
        if (entry?.Record is not null)
        {
            entry.Record = null;
            entry.Deadline = long.MaxValue;
            Publish(entry, NodeLeftReason.Left);
        }
    }

    private void OnGoReply(byte[] payload, long round)
    {
        if (!DiscoveryMessages.TryParse(payload, _options.MaxMessageBytes, out var msg, out var error) || msg.Kind != DiscoveryMessageKind.GoReply)
        {
            DiscoveryLog.GoReplyRejected(_logger, error.Length > 0 ? error : "not an {\"id\",\"addrs\"} reply");
            return;
        }
        if (!PeerId.TryParse(msg.Id, out var id, out var idError))
        {
            DiscoveryLog.GoReplyRejected(_logger, "bad id: " + idError);
            return;
        }
        var parsed = new List<Multiaddress>();
        foreach (var a in msg.Addrs!)
        {
            if (Multiaddress.TryParse(a, out var ma, out _))
            {
                parsed.Add(ma);
            }
        }
        var own = NodeRecords.OwnAddresses(id, parsed, out var foreign);
        if (foreign > 0)
        {
            DiscoveryLog.GoReplyRejected(_logger, $"{foreign} address(es) of the reply for {id} end with another peer's /p2p");
            return;
        }
        var verified = false;
        if (msg.Envelope is not null)
        {
            if (!NodeRecords.TryOpen(msg.Envelope, _options.MaxMessageBytes, out var record, out var recError) || record.PeerId != id)
            {
                DiscoveryLog.GoReplyRejected(_logger, $"the reply for {id} carries a record that does not check out: {(recError.Length > 0 ? recError : "signed by " + record.PeerId)}");
                return;
            }
            own = NodeRecords.OwnAddresses(id, record.Addresses, out _);
            verified = true;
        }
        if (own.Count == 0)
        {
            DiscoveryLog.GoReplyRejected(_logger, $"the reply for {id} has no usable address");
            return;
        }
        if (!_entries.TryGetValue(id, out var entry))
        {
            entry = new Entry(id);
            _entries.Add(id, entry);
        }
        entry.GoAddrs = own;
        entry.GoVerified = verified;
        entry.GoRound = round;
        entry.LastSeen = _time.GetUtcNow();
        Publish(entry, NodeLeftReason.None);
    }

    private void OnGoRoundDone(bool published)
    {
        if (!published)
        {
            return; // a round that never reached Redis proves nothing about anybody
        }
        Interlocked.Increment(ref _goRoundsDone);
        foreach (var e in _entries.Values.Where(e => e.GoAddrs is not null && e.GoRound <= _goRoundsDone - 3).ToList())
        {
            e.GoAddrs = null;
            Publish(e, NodeLeftReason.NotSeen);
        }
    }

    private void OnTick()
    {
        var now = Now;
        var due = new List<Entry>();
        foreach (var e in _entries.Values)
        {
            if (e.Record is not null && !e.Checking && e.Deadline <= now)
            {
                due.Add(e);
                if (due.Count >= ReadChunk)
                {
                    break;
                }
            }
        }
        if (due.Count > 0)
        {
            foreach (var e in due)
            {
                e.Checking = true;
            }
            var checks = due.Select(e => (e.Id, e.Record!.Seq)).ToList();
            var task = ReadKeysAsync(checks.Select(c => c.Id).ToList(), checks);
            TaskObserver.Observe(task, _logger, "discovery record check");
        }
        if (!_scanning && (now >= _nextFullScan || now >= _followUpScan))
        {
            if (now >= _followUpScan)
            {
                _followUpScan = long.MaxValue;
            }
            StartScan(null);
        }
        if (now - _lastTombstoneSweep > _time.TimestampFrequency * 5)
        {
            _lastTombstoneSweep = now;
            foreach (var id in _tombstones.Where(t => t.Value.Until <= now).Select(t => t.Key).ToList())
            {
                _tombstones.Remove(id);
            }
        }
    }

    private void OnRestored()
    {
        // Redis may have restarted empty: give every record a full TTL to be announced again before checking it.
        foreach (var e in _entries.Values)
        {
            if (e.Record is not null)
            {
                e.Deadline = Math.Max(e.Deadline, After(e.Ttl ?? _options.Ttl));
            }
        }
        _checkFailures = 0;
        StartScan(null);
        // Nodes re-announce on their own reconnect, perhaps before our subscription is back: read again later.
        _followUpScan = After(_options.Ttl / 2);
    }

    private void StartScan(TaskCompletionSource? done)
    {
        if (_scanning)
        {
            _rescanAfter = true;
            if (done is not null)
            {
                Debug.Assert(_rescanWaiter is null, "only StartAsync waits for a scan, once");
                _rescanWaiter = done;
            }
            return;
        }
        _scanning = true;
        var task = ScanAsync(done);
        TaskObserver.Observe(task, _logger, "discovery scan");
    }

    private void OnReadResult(ReadResult r)
    {
        if (r.Checks is null)
        {
            _scanning = false;
            if (r.Failure is null)
            {
                _scanFailures = 0;
                _nextFullScan = After(_options.FullRescanInterval);
            }
            else
            {
                _scanFailures++;
                DiscoveryLog.ScanFailed(_logger, r.Failure, _snapshot.Count);
                _nextFullScan = After(RetryDelay(_scanFailures));
            }
        }
        if (r.Failure is not null && r.Checks is not null)
        {
            _checkFailures++;
            var delay = RetryDelay(_checkFailures);
            DiscoveryLog.CheckFailed(_logger, r.Checks.Count, r.Failure, (long)delay.TotalMilliseconds);
            foreach (var (id, _) in r.Checks)
            {
                if (_entries.TryGetValue(id, out var e))
                {
                    e.Checking = false;
                    e.Deadline = Math.Max(e.Deadline, After(delay));
                }
            }
        }
        else if (r.Checks is not null)
        {
            _checkFailures = 0;
        }
        if (r.Checks is null)
        {
            foreach (var read in r.Reads)
            {
                if (read.Opened is { } opened)
                {
                    ApplyRecord(opened, read.Id, ValidFor(read.Pttl), "key " + _options.NodeKeyPrefix + read.Id, fromKey: true);
                }
            }
        }
        else if (r.Failure is null)
        {
            var pttls = r.Reads.ToDictionary(x => x.Id, x => x.Pttl);
            foreach (var (id, seqAtCheck) in r.Checks)
            {
                if (!_entries.TryGetValue(id, out var e))
                {
                    continue;
                }
                e.Checking = false;
                if (e.Record is null)
                {
                    continue;
                }
                var pttl = pttls.GetValueOrDefault(id, KeyMissing);
                if (pttl != KeyMissing)
                {
                    e.Deadline = After(ValidFor(pttl));
                    e.LastSeen = _time.GetUtcNow();
                    Publish(e, NodeLeftReason.None);
                    continue;
                }
                if (e.Record.Seq != seqAtCheck)
                {
                    // A newer join arrived while the key was being read: judge it at its own deadline.
                    continue;
                }
                e.Record = null;
                e.Deadline = long.MaxValue;
                Publish(e, NodeLeftReason.Expired);
            }
        }
        r.Done?.TrySetResult();
        if (r.Checks is null && _rescanAfter)
        {
            _rescanAfter = false;
            var done = _rescanWaiter;
            _rescanWaiter = null;
            StartScan(done);
        }
    }

    /// <summary>How long a key with this PTTL is good for: its remaining time (+1 ms, so the check lands after the expiry),
    /// a full TTL for a key without expiry, nothing for one that expired meanwhile.</summary>
    private TimeSpan ValidFor(long pttl) => pttl switch
    {
        >= 0 => TimeSpan.FromMilliseconds(pttl + 1),
        NoExpiry => _options.Ttl,
        _ => TimeSpan.Zero,
    };

    private TimeSpan RetryDelay(int failures)
    {
        var ms = 1000.0 * Math.Pow(2, Math.Min(failures - 1, 10));
        return TimeSpan.FromMilliseconds(Math.Min(ms, Math.Max(1000, _options.Ttl.TotalMilliseconds / 3)));
    }

    /// <summary>Recomputes an entry's public view, updates the snapshot and raises the change, if any.</summary>
    private void Publish(Entry entry, NodeLeftReason reason)
    {
        var view = View(entry);
        var old = _snapshot.GetValueOrDefault(entry.Id);
        NodeChange? change = null;
        if (view is null)
        {
            _entries.Remove(entry.Id);
            if (old is not null)
            {
                _snapshot = _snapshot.Remove(entry.Id);
                change = new NodeChange(NodeChangeKind.Left, old, reason == NodeLeftReason.None ? NodeLeftReason.Expired : reason);
                DiscoveryLog.NodeLeft(_logger, entry.Id, change.Value.Reason);
            }
        }
        else
        {
            _snapshot = _snapshot.SetItem(entry.Id, view);
            if (old is null)
            {
                change = new NodeChange(NodeChangeKind.Joined, view, NodeLeftReason.None);
                DiscoveryLog.NodeJoined(_logger, entry.Id, view.Sources, view.Addresses.Count);
            }
            else if (!old.SameView(view))
            {
                change = new NodeChange(NodeChangeKind.Updated, view, reason);
                DiscoveryLog.NodeUpdated(_logger, entry.Id, view.Sources, view.Addresses.Count);
            }
        }
        if (change is { } c)
        {
            Raise(c);
        }
    }

    private void Raise(NodeChange change)
    {
        foreach (var w in _watchers)
        {
            w.Writer.TryWrite(change);
        }
        var handlers = Changed;
        if (handlers is null)
        {
            return;
        }
        foreach (var h in handlers.GetInvocationList().Cast<Action<NodeChange>>())
        {
            try
            {
                h(change);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                DiscoveryLog.HandlerFailed(_logger, e);
            }
        }
    }

    private static DiscoveredNode? View(Entry e)
    {
        var sources = NodeSources.None;
        var addrs = new List<Multiaddress>();
        var verified = true;
        if (e.Static is not null)
        {
            sources |= NodeSources.Static;
            addrs.AddRange(e.Static);
        }
        if (e.Record is not null)
        {
            sources |= NodeSources.SignedRecord;
            addrs.AddRange(e.Record.Addresses);
        }
        else if (e.GoAddrs is not null)
        {
            sources |= NodeSources.GoReply;
            addrs.AddRange(e.GoAddrs);
            verified &= e.GoVerified;
        }
        if (sources == NodeSources.None)
        {
            return null;
        }
        var full = addrs.Distinct().Select(a => a.WithPeerId(e.Id)).ToList();
        return new DiscoveredNode(e.Id, full, verified, sources, e.LastSeen, e.Record?.Seq);
    }

    // ---------------------------------------------------------------- Redis I/O (off the loop; results posted back)

    private async Task TickAsync()
    {
        using var timer = new PeriodicTimer(_options.CheckInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                _inbox.Writer.TryWrite(Tick.Instance);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ScanAsync(TaskCompletionSource? done)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            var connection = _connection!;
            var servers = connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
            if (servers.Count == 0)
            {
                throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "no connected Redis primary");
            }
            var pattern = NodeRecords.KeyPattern(_options.NodeKeyPrefix);
            var ids = new List<PeerId>();
            foreach (var server in servers)
            {
                await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: ReadChunk).WithCancellation(_stop.Token).ConfigureAwait(false))
                {
                    var name = (string?)key ?? "";
                    if (!PeerId.TryParse(name[_options.NodeKeyPrefix.Length..], out var id, out var err))
                    {
                        DiscoveryLog.BadKey(_logger, name, err);
                        continue;
                    }
                    ids.Add(id);
                }
            }
            var reads = new List<KeyRead>(ids.Count);
            for (var i = 0; i < ids.Count; i += ReadChunk)
            {
                reads.AddRange(await ReadAsync(ids.GetRange(i, Math.Min(ReadChunk, ids.Count - i)), withValues: true).ConfigureAwait(false));
            }
            DiscoveryLog.Rescanned(_logger, reads.Count, sw.ElapsedMilliseconds);
            Post(new ReadResult(reads, null, null, done));
        }
        catch (Exception e) when (RedisNodeAnnouncer.IsRedisFailure(e) || e is OperationCanceledException)
        {
            Post(new ReadResult([], null, RedisConnections.FirstLine(e.Message), done));
        }
    }

    private void Post(ReadResult result)
    {
        if (!_inbox.Writer.TryWrite(result))
        {
            result.Done?.TrySetResult(); // stopping: nobody will read the result
        }
    }

    private async Task ReadKeysAsync(List<PeerId> ids, List<(PeerId Id, ulong Seq)> checks)
    {
        try
        {
            var reads = await ReadAsync(ids, withValues: false).ConfigureAwait(false);
            _inbox.Writer.TryWrite(new ReadResult(reads, checks, null, null));
        }
        catch (Exception e) when (RedisNodeAnnouncer.IsRedisFailure(e))
        {
            _inbox.Writer.TryWrite(new ReadResult([], checks, RedisConnections.FirstLine(e.Message), null));
        }
    }

    /// <summary>
    /// PTTL (and with <paramref name="withValues"/> GET) of each node key, pipelined in one batch; on a cluster each
    /// command goes to its key's shard. Expiry checks need only the PTTL: content changes come as join messages.
    /// (StackExchange.Redis reports "missing" and "no expiry" alike as null: those few get an EXISTS to tell them apart.)
    /// </summary>
    private async Task<List<KeyRead>> ReadAsync(List<PeerId> ids, bool withValues)
    {
        var db = _connection!.GetDatabase();
        var batch = db.CreateBatch();
        var gets = withValues ? new Task<RedisValue>[ids.Count] : null;
        var ttls = new Task<TimeSpan?>[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            RedisKey key = _options.NodeKeyPrefix + ids[i];
            if (gets is not null)
            {
                gets[i] = batch.StringGetAsync(key);
            }
            ttls[i] = batch.KeyTimeToLiveAsync(key);
        }
        batch.Execute();
        await (gets is null ? Task.WhenAll(ttls) : Task.WhenAll(Task.WhenAll(gets), Task.WhenAll(ttls))).ConfigureAwait(false);

        var pttl = new long[ids.Count];
        List<(int Index, Task<bool> Exists)>? unknown = null;
        for (var i = 0; i < ids.Count; i++)
        {
            if (ttls[i].Result is { } t)
            {
                pttl[i] = Math.Max(0, (long)t.TotalMilliseconds);
            }
            else
            {
                unknown ??= [];
                unknown.Add((i, Task.FromResult(false)));
            }
        }
        if (unknown is not null)
        {
            var confirm = db.CreateBatch();
            for (var j = 0; j < unknown.Count; j++)
            {
                unknown[j] = (unknown[j].Index, confirm.KeyExistsAsync(_options.NodeKeyPrefix + ids[unknown[j].Index]));
            }
            confirm.Execute();
            await Task.WhenAll(unknown.Select(u => u.Exists)).ConfigureAwait(false);
            foreach (var (index, exists) in unknown)
            {
                pttl[index] = exists.Result ? NoExpiry : KeyMissing;
            }
        }
        var result = new List<KeyRead>(ids.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            var value = gets?[i].Result ?? RedisValue.Null;
            result.Add(new KeyRead(ids[i], value.IsNull ? null : (byte[]?)value, pttl[i]));
        }
        if (withValues)
        {
            // Signature checks are the bulk of a full read: spread them over the cores, off the directory loop.
            Parallel.For(0, result.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
            {
                if (result[i].Value is { } v)
                {
                    result[i] = result[i] with { Opened = Open(v) };
                }
            });
        }
        return result;
    }

    private async Task GoLoopAsync()
    {
        var token = _stop.Token;
        var subscriber = _connection!.GetSubscriber();
        long round = 0;
        while (!token.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            round++;
            var thisRound = round;
            var name = "client-reply-" + NodeRecords.NextSeq(0, _time.GetUtcNow()).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var channel = RedisChannel.Literal(name);
            Action<RedisChannel, RedisValue> handler = (_, v) => _inbox.Writer.TryWrite(new GoReply((byte[]?)v ?? [], Interlocked.Read(ref _goRoundsDone) + 1));
            var published = false;
            var subscribed = false;
            try
            {
                await subscriber.SubscribeAsync(channel, handler).ConfigureAwait(false);
                subscribed = true;
                await subscriber.PublishAsync(_topic, DiscoveryMessages.GoRequest(name, hasRecords: true)).ConfigureAwait(false);
                published = true;
                await Task.Delay(_options.Timeout, _time, token).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisNodeAnnouncer.IsRedisFailure(e))
            {
                DiscoveryLog.GoRoundFailed(_logger, RedisConnections.FirstLine(e.Message));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            finally
            {
                try
                {
                    // Also when SUBSCRIBE failed: StackExchange.Redis may have kept the registration.
                    await subscriber.UnsubscribeAsync(channel, handler).ConfigureAwait(false);
                }
                catch (Exception e) when (RedisNodeAnnouncer.IsRedisFailure(e))
                {
                    if (subscribed)
                    {
                        DiscoveryLog.GoRoundFailed(_logger, RedisConnections.FirstLine(e.Message));
                    }
                }
            }
            _inbox.Writer.TryWrite(new GoRoundDone(thisRound, published));
            var rest = _options.GoRequeryInterval - _time.GetElapsedTime(started);
            try
            {
                await Task.Delay(rest > TimeSpan.FromMilliseconds(100) ? rest : TimeSpan.FromMilliseconds(100), _time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        DiscoveryLog.ConnectionLost(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?", e.FailureType.ToString());

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        DiscoveryLog.ConnectionRestored(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?");
        _inbox.Writer.TryWrite(Restored.Instance);
    }

    /// <summary>For tests: queues what a restored connection queues (a rescan), as StackExchange.Redis sometimes reports
    /// for the subscription connection while <see cref="StartAsync"/> runs.</summary>
    internal void QueueConnectionRestored() => _inbox.Writer.TryWrite(Restored.Instance);

    // ---------------------------------------------------------------- types

    private sealed class Entry(PeerId id)
    {
        public PeerId Id { get; } = id;

        public IReadOnlyList<Multiaddress>? Static { get; set; }

        public PeerRecord? Record { get; set; }

        /// <summary>When to read the record's key again (TimeProvider timestamp).</summary>
        public long Deadline { get; set; } = long.MaxValue;

        public bool Checking { get; set; }

        /// <summary>The node's own TTL, from its join message.</summary>
        public TimeSpan? Ttl { get; set; }

        public IReadOnlyList<Multiaddress>? GoAddrs { get; set; }

        public bool GoVerified { get; set; }

        public long GoRound { get; set; }

        public DateTimeOffset LastSeen { get; set; }
    }

    /// <summary>A key's value (null if not read or missing) and raw PTTL (-2 missing, -1 no expiry, else milliseconds).</summary>
    private sealed record KeyRead(PeerId Id, byte[]? Value, long Pttl)
    {
        /// <summary>The value opened and verified (full reads only).</summary>
        public Opened? Opened { get; init; }
    }

    private readonly record struct Opened(PeerRecord? Record, string? Error);

    private abstract record Work;

    private sealed record EventMessage(byte[] Payload) : Work;

    private sealed record GoReply(byte[] Payload, long Round) : Work;

    private sealed record ReadResult(List<KeyRead> Reads, List<(PeerId Id, ulong Seq)>? Checks, string? Failure, TaskCompletionSource? Done) : Work;

    private sealed record ScanNow(TaskCompletionSource? Done) : Work;

    private sealed record Tick : Work
    {
        public static readonly Tick Instance = new();
    }

    private sealed record Restored : Work
    {
        public static readonly Restored Instance = new();
    }

    private sealed record GoRoundDone(long Round, bool Published) : Work;

    private sealed record AddWatcher(Channel<NodeChange> Channel) : Work;

    private sealed record RemoveWatcher(Channel<NodeChange> Channel) : Work;
}
