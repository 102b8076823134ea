using Bethrou.Discovery.Tests.Infrastructure;
using StackExchange.Redis;

namespace Bethrou.Discovery.Tests;

/// <summary>The same code on a Redis Cluster: node keys spread over the shards, pub/sub across them.</summary>
public class RedisTopologyTests
{
    [Fact]
    public async Task Cluster_KeysOnEveryShard_AreReadJoinedExpiredAndLeft()
    {
        await using var cluster = await RedisCluster.StartAsync();
        var options = Harness.Options(cluster.Servers[0]);
        options.Address = cluster.ConfigString;
        var nodes = new List<RedisNodeAnnouncer>();
        for (var i = 0; i < 24; i++)
        {
            var n = Harness.Node(options);
            await n.StartAnnouncedAsync();
            nodes.Add(n);
        }
        try
        {
            // The keys really are spread: every primary holds some.
            foreach (var s in cluster.Servers)
            {
                await using var admin = await Harness.AdminAsync(s);
                var local = await admin.GetServer("127.0.0.1", s.Port).DatabaseSizeAsync();
                Assert.True(local > 0, $"the shard on port {s.Port} holds no node key");
            }

            await using var client = new RedisNodeDirectory(options, new TestLog());
            var log = new ChangeLog(client);
            await client.StartAsync();
            Assert.Equal(nodes.Count, client.Count);

            await using var late = Harness.Node(options);
            await late.StartAnnouncedAsync();
            await Wait.UntilAsync(() => client.TryGet(late.PeerId) is not null, "a join on the cluster is seen");

            await nodes[0].StopAsync();
            await nodes[1].AbandonAsync();
            await Wait.UntilAsync(() => client.TryGet(nodes[0].PeerId) is null, "a leave on the cluster is seen");
            await Wait.UntilAsync(() => client.TryGet(nodes[1].PeerId) is null, "a killed node's key expires on its shard");
            Assert.Equal(NodeLeftReason.Left, log.Last(nodes[0].PeerId)!.Value.Reason);
            Assert.Equal(NodeLeftReason.Expired, log.Last(nodes[1].PeerId)!.Value.Reason);
            Assert.Equal(nodes.Count - 1, client.Count);
        }
        finally
        {
            foreach (var n in nodes)
            {
                await n.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Sentinel_ServiceNameConfigString_FindsThePrimary()
    {
        await using var primary = await RedisServer.StartAsync();
        var dir = Directory.CreateTempSubdirectory("bethrou-redis-sentinel-");
        try
        {
            var conf = Path.Combine(dir.FullName, "sentinel.conf");
            await File.WriteAllTextAsync(conf, $"sentinel monitor bethrou-primary 127.0.0.1 {primary.Port} 1\nsentinel down-after-milliseconds bethrou-primary 5000\n");
            await using var sentinel = await RedisServer.StartAsync(sentinelConfig: conf);
            var options = Harness.Options(primary);
            options.Address = $"127.0.0.1:{sentinel.Port},serviceName=bethrou-primary";
            await using var node = Harness.Node(options);
            await node.StartAnnouncedAsync();
            await using var client = new RedisNodeDirectory(options, new TestLog());
            await client.StartAsync();
            Assert.NotNull(client.TryGet(node.PeerId));

            // The record went to the primary the sentinel named.
            await using var admin = await Harness.AdminAsync(primary);
            Assert.True(await admin.GetDatabase().KeyExistsAsync(options.NodeKeyPrefix + node.PeerId));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
