using System.Collections.Concurrent;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Routing;

public sealed class ExitPoolOptions
{
    /// <summary>How often every exit is pinged (config routing.health).</summary>
    public TimeSpan HealthInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Dial and ping timeout (config routing.timeout).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public string Strategy { get; set; } = ExitSelectionPolicies.Random;

    /// <summary>First reconnect delay after an exit drops; doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan MinReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The client's exits: dials all of them concurrently, keeps connections up (reconnect with backoff), pings them every
/// health interval (RTT for <c>fastest</c>), takes dead ones out and puts them back when they answer.
/// </summary>
public sealed class ExitPool : IAsyncDisposable
{
    private readonly Libp2pHost _host;
    private readonly ExitPoolOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IExitSelectionPolicy _policy;
    private readonly ConcurrentDictionary<PeerId, ExitState> _exits = new();
    private readonly ConcurrentDictionary<PeerId, Task> _reconnecting = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _healthLoop;

    public ExitPool(Libp2pHost host, ExitPoolOptions options, ILogger logger, TimeProvider? time = null, Random? random = null)
    {
        _host = host;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _policy = ExitSelectionPolicies.Create(options.Strategy, random);
        _host.Disconnected += OnDisconnected;
    }

    public IExitSelectionPolicy Policy => _policy;

    public IReadOnlyList<ExitState> Exits => [.. _exits.Values.OrderBy(e => e.Id.ToString(), StringComparer.Ordinal)];

    public IReadOnlyList<ExitState> HealthyExits => [.. Exits.Where(e => e.IsHealthy)];

    /// <summary>Raised when an exit becomes healthy or unhealthy.</summary>
    public event Action<ExitState>? HealthChanged;

    /// <summary>Adds an exit (or updates its addresses) and starts connecting to it.</summary>
    public ExitState AddOrUpdate(PeerId id, IReadOnlyList<Multiaddress> addresses, ExitSource source)
    {
        var bare = addresses.Select(a => a.WithoutPeerId()).Distinct().ToList();
        var state = _exits.AddOrUpdate(id, _ => new ExitState(id, bare, source), (_, e) =>
        {
            e.Addresses = bare.Union(e.Source == ExitSource.Static ? e.Addresses : []).ToList();
            return e;
        });
        _host.PeerStore.GetOrAdd(id).AddAddresses(bare);
        if (!state.IsHealthy && !_stop.IsCancellationRequested)
        {
            ScheduleReconnect(state, immediate: true);
        }
        return state;
    }

    public bool Remove(PeerId id)
    {
        if (!_exits.TryRemove(id, out var e))
        {
            return false;
        }
        SetHealth(e, false, "removed");
        var conn = _host.GetConnection(id);
        if (conn is not null)
        {
            _host.Track(conn.CloseAsync().AsTask(), "close removed exit");
        }
        return true;
    }

    public ExitState? TryGet(PeerId id) => _exits.TryGetValue(id, out var e) ? e : null;

    /// <summary>Starts the health loop. Initial dials were already started by <see cref="AddOrUpdate"/>.</summary>
    public void Start() => _healthLoop ??= HealthLoopAsync();

    /// <summary>Waits until at least <paramref name="count"/> exits are healthy, or the timeout passes.</summary>
    public async Task<bool> WaitForHealthyAsync(int count, TimeSpan timeout, CancellationToken ct = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
        cts.CancelAfter(timeout);
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(ExitState _)
        {
            if (HealthyExits.Count >= count)
            {
                tcs.TrySetResult();
            }
        }
        HealthChanged += Check;
        try
        {
            Check(null!);
            await tcs.Task.WaitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            HealthChanged -= Check;
        }
    }

    /// <summary>Chooses an exit by the strategy among the healthy ones not in <paramref name="exclude"/>.</summary>
    public ExitState? Pick(IReadOnlyCollection<PeerId>? exclude = null)
    {
        var healthy = HealthyExits;
        if (exclude is { Count: > 0 })
        {
            healthy = [.. healthy.Where(e => !exclude.Contains(e.Id))];
        }
        return _policy.Pick(healthy);
    }

    /// <summary>Reports that using an exit failed before it answered (stream open or protocol failure).</summary>
    public void ReportFailure(ExitState exit, string reason)
    {
        exit.ConsecutiveFailures++;
        SetHealth(exit, false, reason);
        ScheduleReconnect(exit, immediate: false);
    }

    private void OnDisconnected(Libp2pConnection conn)
    {
        if (!_exits.TryGetValue(conn.RemotePeer, out var exit) || _stop.IsCancellationRequested)
        {
            return;
        }
        if (_host.GetConnection(conn.RemotePeer) is not null)
        {
            return; // another connection to the same exit is still up
        }
        SetHealth(exit, false, conn.CloseCause ?? "connection closed");
        ScheduleReconnect(exit, immediate: true);
    }

    private void SetHealth(ExitState exit, bool healthy, string? reason)
    {
        if (exit.IsHealthy == healthy)
        {
            if (!healthy)
            {
                exit.LastError = reason;
            }
            return;
        }
        exit.IsHealthy = healthy;
        if (healthy)
        {
            exit.ConsecutiveFailures = 0;
            exit.LastError = null;
            RoutingLog.ExitUp(_logger, exit.Id, exit.AverageRttMs ?? -1);
        }
        else
        {
            exit.LastError = reason;
            exit.ClearRtt();
            RoutingLog.ExitDown(_logger, exit.Id, reason ?? "unknown");
        }
        HealthChanged?.Invoke(exit);
    }

    private void ScheduleReconnect(ExitState exit, bool immediate)
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _reconnecting.GetOrAdd(exit.Id, _ =>
        {
            var t = ReconnectAsync(exit, immediate);
            _host.Track(t, "exit reconnect");
            return t;
        });
    }

    private async Task ReconnectAsync(ExitState exit, bool immediate)
    {
        await Task.Yield();
        try
        {
            var delay = _options.MinReconnectDelay;
            var first = true;
            while (!_stop.IsCancellationRequested && _exits.ContainsKey(exit.Id) && !exit.IsHealthy)
            {
                if (!(first && immediate))
                {
                    // Jittered exponential backoff.
                    var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
                    await Task.Delay(delay * jitter, _time, _stop.Token).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                }
                first = false;
                if (await ProbeAsync(exit).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _reconnecting.TryRemove(exit.Id, out _);
        }
    }

    /// <summary>Connects if needed and pings; updates health and RTT. Returns whether the exit answered.</summary>
    private async Task<bool> ProbeAsync(ExitState exit)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(_options.Timeout);
        try
        {
            var conn = await _host.ConnectAsync(exit.Id, cts.Token).ConfigureAwait(false);
            var rtt = await _host.PingAsync(conn, cts.Token).ConfigureAwait(false);
            exit.RecordRtt(rtt);
            SetHealth(exit, true, null);
            return true;
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            if (_stop.IsCancellationRequested)
            {
                return false;
            }
            exit.ConsecutiveFailures++;
            var reason = e is OperationCanceledException ? $"no answer within {_options.Timeout.TotalSeconds:0.#} s" : e.Message;
            SetHealth(exit, false, reason);
            var conn = _host.GetConnection(exit.Id);
            if (conn is not null)
            {
                // A connection that cannot carry a ping is dead weight: drop it so the next probe redials.
                await conn.CloseAsync().ConfigureAwait(false);
            }
            return false;
        }
    }

    private async Task HealthLoopAsync()
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(_options.HealthInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var probes = _exits.Values.Where(e => e.IsHealthy).Select(ProbeAsync).ToList();
                await Task.WhenAll(probes).ConfigureAwait(false);
                foreach (var e in _exits.Values.Where(e => !e.IsHealthy))
                {
                    ScheduleReconnect(e, immediate: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _host.Disconnected -= OnDisconnected;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_healthLoop is not null)
        {
            await _healthLoop.ConfigureAwait(false);
        }
        await Task.WhenAll(_reconnecting.Values).ConfigureAwait(false);
        _stop.Dispose();
    }
}

internal static partial class RoutingLog
{
    [LoggerMessage(2200, LogLevel.Information, "Exit {Peer} is up (rtt {RttMs:0.##} ms)")]
    public static partial void ExitUp(ILogger logger, PeerId peer, double rttMs);

    [LoggerMessage(2201, LogLevel.Warning, "Exit {Peer} is down: {Reason}")]
    public static partial void ExitDown(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(2202, LogLevel.Debug, "Exit {Peer} failed before answering ({Reason}); trying another")]
    public static partial void Failover(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(2203, LogLevel.Warning, "No healthy exit for a new tunnel")]
    public static partial void NoExit(ILogger logger);
}
