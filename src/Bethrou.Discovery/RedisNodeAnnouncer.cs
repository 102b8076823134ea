using System.Threading.Channels;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bethrou.Discovery;

/// <summary>
/// A node's presence in Redis discovery. <see cref="StartAsync"/> stores a signed peer record under
/// <c>T:node:&lt;peer&gt;</c> with a TTL, publishes a join on <c>T:events</c>, and refreshes the record every
/// <see cref="RedisDiscoveryOptions.Heartbeat"/>; <see cref="StopAsync"/> deletes it and publishes a signed leave.
/// It also answers Go Bethrou discover requests on <c>T</c>. Redis outages are ridden out: the heartbeat retries with
/// backoff, and the record is re-stored and re-announced as soon as the connection comes back.
/// </summary>
public sealed class RedisNodeAnnouncer : IAsyncDisposable
{
    /// <summary>How many Go discover requests a node answers per second at most (a burst of twice that is allowed).</summary>
    public const int GoAnswersPerSecond = 20;

    private readonly RedisDiscoveryOptions _options;
    private readonly Ed25519PrivateKey _identity;
    private readonly RedisConnectionFactory? _factory;
    private readonly bool _ownsConnection;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _lock = new();
    private readonly RedisKey _key;
    private readonly RedisChannel _topic;
    private readonly RedisChannel _events;
    private readonly Action<RedisChannel, RedisValue> _requestHandler;
    private readonly TaskCompletionSource _announced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _gate = new(1, 1); // one write to the key at a time, so an older record never lands last
    private IConnectionMultiplexer? _connection;
    private volatile Published _current;
    private volatile bool _forceJoin;
    private Task? _heartbeat;
    private int _state; // 0 new, 1 running, 2 stopped
    private double _bucketTokens = GoAnswersPerSecond * 2;
    private long _bucketStamp;

    /// <summary>An announcer that connects with <paramref name="connect"/> (default: <see cref="RedisConnections"/>) and owns that connection.</summary>
    public RedisNodeAnnouncer(
        RedisDiscoveryOptions options,
        Ed25519PrivateKey identity,
        IEnumerable<Multiaddress> addresses,
        ILogger logger,
        TimeProvider? time = null,
        RedisConnectionFactory? connect = null,
        Random? random = null)
        : this(options, identity, addresses, logger, time, random, connect, null)
    {
    }

    /// <summary>An announcer on a connection shared with others (not disposed by this announcer).</summary>
    public RedisNodeAnnouncer(
        RedisDiscoveryOptions options,
        Ed25519PrivateKey identity,
        IEnumerable<Multiaddress> addresses,
        IConnectionMultiplexer connection,
        ILogger logger,
        TimeProvider? time = null,
        Random? random = null)
        : this(options, identity, addresses, logger, time, random, null, connection ?? throw new ArgumentNullException(nameof(connection)))
    {
    }

    private RedisNodeAnnouncer(
        RedisDiscoveryOptions options,
        Ed25519PrivateKey identity,
        IEnumerable<Multiaddress> addresses,
        ILogger logger,
        TimeProvider? time,
        Random? random,
        RedisConnectionFactory? connect,
        IConnectionMultiplexer? connection)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _options = options.Clone();
        _identity = identity ?? throw new ArgumentNullException(nameof(identity));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _connection = connection;
        _ownsConnection = connection is null;
        _factory = connect ?? (connection is null ? RedisConnections.For(_options, "bethrou-node", logger) : null);
        PeerId = identity.PeerId;
        _key = _options.NodeKeyPrefix + PeerId;
        _topic = RedisChannel.Literal(_options.Topic);
        _events = RedisChannel.Literal(_options.EventsChannel);
        _requestHandler = OnTopicMessage;
        _current = Build(addresses, 0);
        _bucketStamp = _time.GetTimestamp();
    }

    public PeerId PeerId { get; }

    /// <summary>The addresses in the current record (without <c>/p2p</c>).</summary>
    public IReadOnlyList<Multiaddress> Addresses => _current.Record.Addresses;

    /// <summary>The current record's sequence number.</summary>
    public ulong Seq => _current.Record.Seq;

    internal IConnectionMultiplexer? Connection => _connection;

    /// <summary>Completes once the record has been stored in Redis for the first time.</summary>
    public Task Announced => _announced.Task;

    /// <summary>
    /// Connects (if needed), subscribes to Go discover requests, announces and starts the heartbeat. An unreachable
    /// Redis does not fail this: the announcement is retried in the background.
    /// </summary>
    /// <exception cref="RedisDiscoveryException">Redis refused the credentials.</exception>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the announcer was already started");
        }
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
        if (_current.Record.Addresses.Count == 0)
        {
            DiscoveryLog.NoAddresses(_logger, PeerId);
        }
        try
        {
            await _connection.GetSubscriber().SubscribeAsync(_topic, _requestHandler).ConfigureAwait(false);
        }
        catch (RedisException e)
        {
            // StackExchange.Redis keeps the subscription registered and establishes it once connected.
            DiscoveryLog.SubscribeDeferred(_logger, _options.Topic, RedisConnections.FirstLine(e.Message));
        }
        var failures = 0;
        try
        {
            await AnnounceAsync(join: true).ConfigureAwait(false);
            DiscoveryLog.Announced(_logger, PeerId, _options.Topic, _current.Record.Addresses.Count, _current.Record.Seq);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            _forceJoin = true;
            failures = 1;
            DiscoveryLog.AnnounceFailed(_logger, PeerId, RedisConnections.FirstLine(e.Message));
        }
        _heartbeat = HeartbeatLoopAsync(failures);
        TaskObserver.Observe(_heartbeat, _logger, "discovery heartbeat");
    }

    /// <summary>Signs a new record with these addresses and announces it (retried in the background on failure).</summary>
    public async Task UpdateAddressesAsync(IEnumerable<Multiaddress> addresses, CancellationToken ct = default)
    {
        lock (_lock)
        {
            _current = Build(addresses, _current.Record.Seq);
        }
        if (Volatile.Read(ref _state) != 1)
        {
            return;
        }
        try
        {
            await AnnounceAsync(join: true).ConfigureAwait(false);
            DiscoveryLog.Announced(_logger, PeerId, _options.Topic, _current.Record.Addresses.Count, _current.Record.Seq);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            _forceJoin = true;
            _wake.Writer.TryWrite(true);
            DiscoveryLog.AnnounceFailed(_logger, PeerId, RedisConnections.FirstLine(e.Message));
        }
    }

    /// <summary>Stops the heartbeat, deletes the record and publishes a signed leave (bounded by the connect timeout).</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            await DisposeConnectionAsync().ConfigureAwait(false);
            return;
        }
        await StopLoopsAsync().ConfigureAwait(false);
        var connection = _connection!;
        Published tombstone;
        lock (_lock)
        {
            tombstone = Build([], _current.Record.Seq);
        }
        // Wait out an announcement in flight (UpdateAddressesAsync); later ones see the state and do nothing.
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var db = connection.GetDatabase();
            var del = db.KeyDeleteAsync(_key);
            var pub = db.PublishAsync(_events, DiscoveryMessages.Leave(PeerId, tombstone.Envelope));
            await Task.WhenAll(del, pub).WaitAsync(_options.ConnectTimeout, _time, ct).ConfigureAwait(false);
            DiscoveryLog.Withdrawn(_logger, PeerId, _options.Topic);
        }
        catch (Exception e) when (IsRedisFailure(e) || e is TimeoutException)
        {
            DiscoveryLog.WithdrawFailed(_logger, PeerId, RedisConnections.FirstLine(e.Message));
        }
        finally
        {
            _gate.Release();
        }
        await DisposeConnectionAsync().ConfigureAwait(false);
    }

    /// <summary>Stops without deleting the record or saying goodbye, as a crashed process would (tests, benchmarks).</summary>
    internal async Task AbandonAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }
        await StopLoopsAsync().ConfigureAwait(false);
        if (_ownsConnection && _connection is not null)
        {
            await _connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        }
        await DisposeConnectionAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    private async Task StopLoopsAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_heartbeat is not null)
        {
            try
            {
                await _heartbeat.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        var connection = _connection;
        if (connection is null)
        {
            return;
        }
        connection.ConnectionFailed -= OnConnectionFailed;
        connection.ConnectionRestored -= OnConnectionRestored;
        try
        {
            await connection.GetSubscriber().UnsubscribeAsync(_topic, _requestHandler).ConfigureAwait(false);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            DiscoveryLog.SubscribeDeferred(_logger, _options.Topic, RedisConnections.FirstLine(e.Message));
        }
    }

    private async Task DisposeConnectionAsync()
    {
        if (_ownsConnection && _connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Refreshes the record (SET … XX keeps it alive); if the key had vanished (expired while we could not reach
    /// Redis, or Redis restarted empty) or <paramref name="join"/> is set, stores it and publishes a join.
    /// </summary>
    private async Task AnnounceAsync(bool join)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _state) != 1)
            {
                return; // stopping: never re-create the key after (or while) it is deleted
            }
            var current = _current;
            var db = _connection!.GetDatabase();
            if (!join)
            {
                if (await db.StringSetAsync(_key, current.Envelope, _options.Ttl, When.Exists).ConfigureAwait(false))
                {
                    return;
                }
            }
            var set = db.StringSetAsync(_key, current.Envelope, _options.Ttl);
            var pub = db.PublishAsync(_events, current.JoinMessage);
            await Task.WhenAll(set, pub).ConfigureAwait(false);
            _announced.TrySetResult();
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task HeartbeatLoopAsync(int failures)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var delay = failures == 0 ? Jittered(_options.Heartbeat) : Backoff(failures);
            if (!await WaitAsync(delay, token).ConfigureAwait(false))
            {
                return;
            }
            var join = _forceJoin;
            _forceJoin = false;
            try
            {
                await AnnounceAsync(join).ConfigureAwait(false);
                if (failures > 0)
                {
                    DiscoveryLog.AnnounceRecovered(_logger, PeerId, failures);
                }
                failures = 0;
            }
            catch (Exception e) when (IsRedisFailure(e))
            {
                if (join)
                {
                    _forceJoin = true;
                }
                failures++;
                if (failures == 1)
                {
                    DiscoveryLog.AnnounceFailed(_logger, PeerId, RedisConnections.FirstLine(e.Message));
                }
                else
                {
                    DiscoveryLog.AnnounceRetryFailed(_logger, PeerId, failures, RedisConnections.FirstLine(e.Message), (long)Backoff(failures).TotalMilliseconds);
                }
            }
        }
    }

    /// <summary>Waits for the delay or a wake-up; false once stopping.</summary>
    private async Task<bool> WaitAsync(TimeSpan delay, CancellationToken stop)
    {
        using var timeout = new CancellationTokenSource(delay, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stop);
        try
        {
            await _wake.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return !stop.IsCancellationRequested;
    }

    private TimeSpan Jittered(TimeSpan t) => t * (0.85 + (0.15 * _random.NextDouble()));

    /// <summary>0.5 s, 1 s, 2 s, … capped at the heartbeat interval.</summary>
    private TimeSpan Backoff(int failures)
    {
        var ms = 500.0 * Math.Pow(2, Math.Min(failures - 1, 16));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.Heartbeat.TotalMilliseconds));
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        DiscoveryLog.ConnectionLost(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?", e.FailureType.ToString());

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        DiscoveryLog.ConnectionRestored(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?");
        // Redis may have restarted empty: store the record again and tell the clients.
        _forceJoin = true;
        _wake.Writer.TryWrite(true);
    }

    /// <summary>Go protocol: answer <c>{"action":"discover","reply":ch}</c> with <c>{"id","addrs"}</c> on <c>ch</c>.</summary>
    private void OnTopicMessage(RedisChannel channel, RedisValue value)
    {
        if (Volatile.Read(ref _state) != 1)
        {
            return;
        }
        var bytes = (byte[]?)value ?? [];
        if (!DiscoveryMessages.TryParse(bytes, _options.MaxMessageBytes, out var msg, out var error))
        {
            DiscoveryLog.MalformedMessage(_logger, _options.Topic, error);
            return;
        }
        if (msg.Kind != DiscoveryMessageKind.GoRequest || msg.HasRecords)
        {
            // Go replies and our own clients' requests (they read the signed records themselves) need no answer.
            return;
        }
        var reply = msg.Reply!;
        if (reply == _options.Topic || reply == _options.EventsChannel)
        {
            DiscoveryLog.MalformedMessage(_logger, _options.Topic, "discover request names a discovery channel as its reply channel");
            return;
        }
        if (!TakeAnswerToken())
        {
            DiscoveryLog.GoAnswerThrottled(_logger, reply);
            return;
        }
        var task = AnswerAsync(reply, _current.GoReply);
        TaskObserver.Observe(task, _logger, "Go discover answer");
    }

    /// <summary>
    /// Token bucket for Go answers (<see cref="GoAnswersPerSecond"/>, burst twice that): anyone who can publish on the
    /// topic could otherwise make every node publish once per request (an amplifier, as in Go Bethrou).
    /// </summary>
    private bool TakeAnswerToken()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var refill = (now - _bucketStamp) / (double)_time.TimestampFrequency * GoAnswersPerSecond;
            _bucketStamp = now;
            _bucketTokens = Math.Min(GoAnswersPerSecond * 2, _bucketTokens + refill);
            if (_bucketTokens < 1)
            {
                return false;
            }
            _bucketTokens--;
            return true;
        }
    }

    private async Task AnswerAsync(string reply, byte[] message)
    {
        try
        {
            await _connection!.GetSubscriber().PublishAsync(RedisChannel.Literal(reply), message).ConfigureAwait(false);
            DiscoveryLog.GoRequestAnswered(_logger, reply);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            DiscoveryLog.GoAnswerFailed(_logger, RedisConnections.FirstLine(e.Message));
        }
    }

    private Published Build(IEnumerable<Multiaddress> addresses, ulong previousSeq)
    {
        var bare = NodeRecords.OwnAddresses(PeerId, addresses, out _);
        var record = new PeerRecord(PeerId, NodeRecords.NextSeq(previousSeq, _time.GetUtcNow()), bare);
        var envelope = record.Seal(_identity).Marshal();
        return new Published(
            record,
            envelope,
            DiscoveryMessages.Join(envelope, _options.Ttl),
            DiscoveryMessages.GoReply(PeerId, bare.Select(a => a.WithPeerId(PeerId)), envelope));
    }

    internal static bool IsRedisFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException;

    private sealed record Published(PeerRecord Record, byte[] Envelope, byte[] JoinMessage, byte[] GoReply);
}
