using System.Diagnostics;
using System.Globalization;
using Bethrou.Discovery;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Bethrou.Benchmarks.Discovery;

/// <summary>
/// Redis discovery at scale, on a redis-server of its own: N simulated nodes announce (a few shared connections);
/// measures a new client's time to hold the whole set, join visibility, killed-node disappearance versus the TTL,
/// Redis memory per node and Redis commands per second per node (nodes alone, then with one client).
/// Usage: <c>discovery [nodes=1000] [ttl-seconds=5] [heartbeat-seconds=2] [window-seconds=10]</c>.
/// </summary>
internal static class DiscoveryScaleBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var n = Arg(args, 0, 1000);
        var ttl = TimeSpan.FromSeconds(Arg(args, 1, 5));
        var heartbeat = TimeSpan.FromSeconds(Arg(args, 2, 2));
        var window = TimeSpan.FromSeconds(Arg(args, 3, 10));
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        await using var redis = await BenchRedis.StartAsync();
        await using var admin = await redis.AdminAsync();
        var server = admin.GetServer("127.0.0.1", redis.Port);
        Console.WriteLine($"redis-server {server.Version} on 127.0.0.1:{redis.Port}; {n} nodes, ttl {ttl.TotalSeconds} s, heartbeat {heartbeat.TotalSeconds} s");

        var options = new RedisDiscoveryOptions
        {
            Address = redis.Url,
            Topic = "bench-nodes",
            Ttl = ttl,
            Heartbeat = heartbeat,
            CheckInterval = TimeSpan.FromMilliseconds(250),
            IncludePrivateAddresses = true,
        };
        var memBefore = await UsedMemoryAsync(server);

        // N nodes on 4 shared connections (a real deployment has one process per node; Redis-side cost is the same).
        var connections = new List<IConnectionMultiplexer>();
        for (var i = 0; i < 4; i++)
        {
            connections.Add(await RedisConnections.ConnectAsync(options, "bench-nodes-" + i, NullLogger.Instance, CancellationToken.None));
        }
        var nodes = new List<RedisNodeAnnouncer>(n);
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            nodes.Add(NewNode(options, connections[i % connections.Count], 10000 + i));
        }
        await ForEachAsync(nodes, node => node.StartAsync());
        Console.WriteLine($"announce: {n} nodes started in {sw.ElapsedMilliseconds} ms");
        var memAfter = await UsedMemoryAsync(server);
        var keyBytes = await admin.GetDatabase().StringLengthAsync(options.NodeKeyPrefix + nodes[0].PeerId);
        Console.WriteLine($"redis memory: used_memory +{(memAfter - memBefore) / 1024.0:0} KiB for {n} nodes = {(memAfter - memBefore) / (double)n:0} B/node (record value {keyBytes} B)");

        // Steady state, nodes only.
        var (nodesOnly, nodeStats) = await CommandRateAsync(server, window);
        Console.WriteLine($"steady state, {n} nodes, no client: {nodesOnly:0.0} commands/s = {nodesOnly / n:0.000} /s per node (heartbeat {heartbeat.TotalSeconds} s)");
        Console.WriteLine("  per command: " + Describe(nodeStats));

        // A new client: time until it holds the whole set (StartAsync returns after reading it).
        // The first one in this process includes JIT warm-up of the directory's code paths.
        RedisNodeDirectory client = null!;
        for (var i = 0; i < 4; i++)
        {
            double connectMs = 0;
            RedisConnectionFactory timedConnect = async ct =>
            {
                var c = Stopwatch.StartNew();
                var mux = await RedisConnections.ConnectAsync(options, "bench-client", NullLogger.Instance, ct);
                connectMs = c.Elapsed.TotalMilliseconds;
                return mux;
            };
            sw.Restart();
            var directory = new RedisNodeDirectory(options, Environment.GetEnvironmentVariable("BENCH_DEBUG") is null ? NullLogger.Instance : new ConsoleLineLogger(), connect: timedConnect);
            await directory.StartAsync();
            var startMs = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine($"new client #{i + 1}: holds {directory.Count}/{n} nodes {startMs:0} ms after start (connect {connectMs:0} ms, read+verify {startMs - connectMs:0} ms){(directory.Count == n ? "" : " INCOMPLETE")}");
            if (i < 3)
            {
                await directory.DisposeAsync();
            }
            else
            {
                client = directory;
            }
        }

        // Joins: time from a node's StartAsync to the client seeing it.
        var joinMs = new List<double>();
        var extra = new List<RedisNodeAnnouncer>();
        for (var i = 0; i < 20; i++)
        {
            var node = NewNode(options, connections[0], 20000 + i);
            extra.Add(node);
            var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnChange(NodeChange c)
            {
                if (c.Kind == NodeChangeKind.Joined && c.Node.PeerId == node.PeerId)
                {
                    seen.TrySetResult();
                }
            }
            client.Changed += OnChange;
            sw.Restart();
            await node.StartAsync();
            await seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
            joinMs.Add(sw.Elapsed.TotalMilliseconds);
            client.Changed -= OnChange;
        }
        joinMs.Sort();
        Console.WriteLine($"join visible: median {joinMs[joinMs.Count / 2]:0.0} ms, max {joinMs[^1]:0.0} ms over {joinMs.Count} joins");

        // Steady state with one client.
        var (withClient, clientStats) = await CommandRateAsync(server, window);
        var total = n + extra.Count;
        var clientCommands = clientStats.Where(x => x.Name is "pttl" or "exists" or "get" or "scan" or "subscribe" or "unsubscribe").Sum(x => x.PerSecond);
        Console.WriteLine($"steady state, {total} nodes + 1 client: {withClient:0.0} commands/s");
        Console.WriteLine("  per command: " + Describe(clientStats));
        Console.WriteLine($"  the client's own commands (pttl/exists/get/scan/(un)subscribe): {clientCommands:0.0}/s = {clientCommands / total:0.000} /s per node");

        // Killed nodes: abandoned without cleanup; how long after the kill, and after Redis expired the key, the client drops them.
        var victims = nodes.Take(10).ToList();
        var expiries = new Dictionary<PeerId, DateTime>();
        var gone = new Dictionary<PeerId, DateTime>();
        var allGone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Changed += c =>
        {
            if (c.Kind == NodeChangeKind.Left && victims.Any(v => v.PeerId == c.Node.PeerId))
            {
                lock (gone)
                {
                    gone[c.Node.PeerId] = DateTime.UtcNow;
                    if (gone.Count == victims.Count)
                    {
                        allGone.TrySetResult();
                    }
                }
            }
        };
        var killedAt = DateTime.UtcNow;
        foreach (var v in victims)
        {
            await v.AbandonAsync();
        }
        foreach (var v in victims)
        {
            var pttl = await admin.GetDatabase().KeyTimeToLiveAsync(options.NodeKeyPrefix + v.PeerId);
            expiries[v.PeerId] = DateTime.UtcNow + (pttl ?? TimeSpan.Zero);
        }
        await allGone.Task.WaitAsync(ttl * 3);
        var afterKill = victims.Select(v => (gone[v.PeerId] - killedAt).TotalMilliseconds).Max();
        var afterExpiry = victims.Select(v => (gone[v.PeerId] - expiries[v.PeerId]).TotalMilliseconds).ToList();
        Console.WriteLine($"killed nodes: {victims.Count} dropped at most {afterKill:0} ms after the kill (ttl {ttl.TotalMilliseconds:0} ms); " +
                          $"{afterExpiry.Min():0}..{afterExpiry.Max():0} ms after Redis expired their keys => within TTL + {Math.Max(0, afterExpiry.Max()) / 1000:0.00} s");

        var info = await server.InfoAsync("stats");
        var ops = info.SelectMany(g => g).FirstOrDefault(kv => kv.Key == "instantaneous_ops_per_sec").Value;
        Console.WriteLine($"redis instantaneous_ops_per_sec at the end: {ops}; used_memory_peak_human {(await server.InfoAsync("memory")).SelectMany(g => g).First(kv => kv.Key == "used_memory_peak_human").Value}");

        await client.DisposeAsync();
        foreach (var node in nodes.Skip(victims.Count).Concat(extra))
        {
            await node.AbandonAsync();
        }
        foreach (var c in connections)
        {
            await c.DisposeAsync();
        }
        return 0;
    }

    private static RedisNodeAnnouncer NewNode(RedisDiscoveryOptions options, IConnectionMultiplexer connection, int port) =>
        new(options, Ed25519PrivateKey.Generate(), [Multiaddress.Parse($"/ip4/198.51.100.{port % 250}/tcp/{port}")], connection, NullLogger.Instance);

    private static async Task ForEachAsync<T>(IReadOnlyList<T> items, Func<T, Task> action)
    {
        using var gate = new SemaphoreSlim(64);
        await Task.WhenAll(items.Select(async item =>
        {
            await gate.WaitAsync();
            try
            {
                await action(item);
            }
            finally
            {
                gate.Release();
            }
        }));
    }

    private static async Task<long> UsedMemoryAsync(IServer server)
    {
        var info = await server.InfoAsync("memory");
        return long.Parse(info.SelectMany(g => g).First(kv => kv.Key == "used_memory").Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Commands per second over the window (INFO stats) and the rate per command (INFO commandstats).</summary>
    private static async Task<(double Total, List<(string Name, double PerSecond)> PerCommand)> CommandRateAsync(IServer server, TimeSpan window)
    {
        await server.ExecuteAsync("CONFIG", "RESETSTAT");
        var sw = Stopwatch.StartNew();
        await Task.Delay(window);
        var stats = await server.InfoAsync("commandstats");
        var seconds = sw.Elapsed.TotalSeconds;
        var perCommand = stats.SelectMany(g => g)
            .Select(kv => (Name: kv.Key.Replace("cmdstat_", "", StringComparison.Ordinal), Calls: long.Parse(kv.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture)))
            .Where(x => x.Name is not ("info" or "config|resetstat" or "config"))
            .Select(x => (x.Name, PerSecond: x.Calls / seconds))
            .OrderByDescending(x => x.PerSecond)
            .ToList();
        return (perCommand.Sum(x => x.PerSecond), perCommand);
    }

    private static string Describe(List<(string Name, double PerSecond)> stats) =>
        string.Join(", ", stats.Select(x => $"{x.Name} {x.PerSecond:0.0}/s"));

    private static int Arg(string[] args, int i, int fallback) =>
        args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
}

internal sealed class ConsoleLineLogger : Microsoft.Extensions.Logging.ILogger
{
    private readonly Stopwatch _sw = Stopwatch.StartNew();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Name is "Rescanned" or "DirectoryStarted")
        {
            Console.WriteLine($"    [{_sw.ElapsedMilliseconds} ms] {formatter(state, exception)}");
        }
    }
}
