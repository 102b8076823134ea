using System.Collections.Concurrent;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using StackExchange.Redis;

namespace Bethrou.Discovery.Tests.Infrastructure;

/// <summary>Builds nodes and clients with short timings on a test Redis, and records what clients see.</summary>
public static class Harness
{
    private static int _port = 20000;

    public static RedisDiscoveryOptions Options(RedisServer server, string? topic = null) => new()
    {
        Address = server.Url,
        Topic = topic ?? "test-" + Guid.NewGuid().ToString("N")[..12],
        Ttl = TimeSpan.FromSeconds(3),
        Heartbeat = TimeSpan.FromMilliseconds(500),
        CheckInterval = TimeSpan.FromMilliseconds(50),
        Timeout = TimeSpan.FromMilliseconds(600),
        GoRequeryInterval = TimeSpan.FromMilliseconds(1000),
        FullRescanInterval = TimeSpan.FromSeconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        IncludePrivateAddresses = true,
    };

    public static Multiaddress NextAddress() => Multiaddress.Parse($"/ip4/127.0.0.1/tcp/{Interlocked.Increment(ref _port)}");

    public static RedisNodeAnnouncer Node(RedisDiscoveryOptions options, TestLog? log = null, Ed25519PrivateKey? key = null, Multiaddress? address = null) =>
        new(options, key ?? Ed25519PrivateKey.Generate(), [address ?? NextAddress()], log ?? new TestLog());

    /// <summary>Starts a node and waits until its record is in Redis (a loaded machine may take a while to connect).</summary>
    public static async Task StartAnnouncedAsync(this RedisNodeAnnouncer node)
    {
        await node.StartAsync();
        await node.Announced.WaitAsync(Wait.Long);
    }

    public static async Task<ConnectionMultiplexer> AdminAsync(RedisServer server, string? password = null)
    {
        var o = new ConfigurationOptions { AbortOnConnectFail = false, AllowAdmin = true, Password = password };
        o.EndPoints.Add("127.0.0.1", server.Port);
        return await ConnectionMultiplexer.ConnectAsync(o);
    }
}

/// <summary>Collects a directory's changes.</summary>
public sealed class ChangeLog
{
    private readonly ConcurrentQueue<NodeChange> _changes = new();

    public ChangeLog(RedisNodeDirectory directory) => directory.Changed += c => _changes.Enqueue(c);

    public IReadOnlyList<NodeChange> All => [.. _changes];

    public bool Has(NodeChangeKind kind, PeerId id) => _changes.Any(c => c.Kind == kind && c.Node.PeerId == id);

    public NodeChange? Last(PeerId id) => _changes.LastOrDefault(c => c.Node.PeerId == id) is { Node: not null } c ? c : null;
}
