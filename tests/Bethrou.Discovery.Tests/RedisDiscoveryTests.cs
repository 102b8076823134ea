using System.Text;
using System.Text.Json;
using Bethrou.Discovery.Tests.Infrastructure;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;
using StackExchange.Redis;

namespace Bethrou.Discovery.Tests;

/// <summary>Nodes and clients against one real redis-server; each test has its own topic.</summary>
public class RedisDiscoveryTests : IClassFixture<RedisServerFixture>
{
    private readonly RedisServer _redis;

    public RedisDiscoveryTests(RedisServerFixture fixture) => _redis = fixture.Server;

    [Fact]
    public async Task Join_IsSeenByAClientStartedBefore_AndOneStartedAfter()
    {
        var options = Harness.Options(_redis);
        await using var early = new RedisNodeDirectory(options, new TestLog());
        var earlyLog = new ChangeLog(early);
        await early.StartAsync();
        Assert.Equal(0, early.Count);

        await using var node = Harness.Node(options);
        await node.StartAnnouncedAsync();
        await Wait.UntilAsync(() => early.TryGet(node.PeerId) is not null, "the early client sees the join");

        await using var late = new RedisNodeDirectory(options, new TestLog());
        await late.StartAsync();
        // A late client holds the node as soon as StartAsync returns: no timeout is waited out.
        var seen = late.TryGet(node.PeerId);
        Assert.NotNull(seen);
        Assert.True(seen.Verified);
        Assert.Equal(NodeSources.SignedRecord, seen.Sources);
        Assert.Equal([node.Addresses[0].WithPeerId(node.PeerId)], seen.Addresses);
        Assert.Equal(node.Seq, seen.Seq);

        var joined = Assert.Single(earlyLog.All);
        Assert.Equal(NodeChangeKind.Joined, joined.Kind);
        Assert.Equal(node.PeerId, joined.Node.PeerId);
    }

    [Fact]
    public async Task GracefulLeave_RemovesTheNodeAndItsKeyAtOnce()
    {
        var options = Harness.Options(_redis);
        // A long TTL: only the signed leave can explain a quick removal.
        options.Ttl = TimeSpan.FromSeconds(60);
        options.Heartbeat = TimeSpan.FromSeconds(20);
        await using var node = Harness.Node(options);
        await node.StartAnnouncedAsync();
        await using var client = new RedisNodeDirectory(options, new TestLog());
        var log = new ChangeLog(client);
        await client.StartAsync();
        Assert.NotNull(client.TryGet(node.PeerId));

        await node.StopAsync();
        await Wait.UntilAsync(() => client.TryGet(node.PeerId) is null, "the client drops the node that left");
        var left = log.Last(node.PeerId)!.Value;
        Assert.Equal(NodeChangeKind.Left, left.Kind);
        Assert.Equal(NodeLeftReason.Left, left.Reason);

        await using var admin = await Harness.AdminAsync(_redis);
        Assert.False(await admin.GetDatabase().KeyExistsAsync(options.NodeKeyPrefix + node.PeerId));
        await using var late = new RedisNodeDirectory(options, new TestLog());
        await late.StartAsync();
        Assert.Equal(0, late.Count);
    }

    [Fact]
    public async Task KilledNode_ExpiresWithinItsTtl_AndOnlyOnceItsKeyIsGone()
    {
        var options = Harness.Options(_redis);
        await using var killed = Harness.Node(options);
        await using var alive = Harness.Node(options);
        await killed.StartAnnouncedAsync();
        await alive.StartAnnouncedAsync();
        await using var client = new RedisNodeDirectory(options, new TestLog());
        var log = new ChangeLog(client);
        await client.StartAsync();
        Assert.Equal(2, client.Count);

        await using var admin = await Harness.AdminAsync(_redis);
        var db = admin.GetDatabase();
        var key = options.NodeKeyPrefix + killed.PeerId;
        await killed.AbandonAsync(); // a crash: no DEL, no leave
        Assert.True(await db.KeyExistsAsync(key));

        await Wait.UntilAsync(() => client.TryGet(killed.PeerId) is null, "the killed node expires");
        Assert.False(await db.KeyExistsAsync(key)); // dropped because Redis expired it, not earlier
        var left = log.Last(killed.PeerId)!.Value;
        Assert.Equal(NodeLeftReason.Expired, left.Reason);
        // The live node was refreshed by its heartbeat throughout (its key outlived several TTLs of checks).
        Assert.NotNull(client.TryGet(alive.PeerId));
        Assert.False(log.Has(NodeChangeKind.Left, alive.PeerId));
    }

    [Fact]
    public async Task ForgedAndTamperedRecords_AreRejected_FromKeysAndFromJoins()
    {
        var options = Harness.Options(_redis);
        options.Ttl = TimeSpan.FromSeconds(60);
        options.Heartbeat = TimeSpan.FromSeconds(20);
        using var victim = Ed25519PrivateKey.Generate();
        using var attacker = Ed25519PrivateKey.Generate();
        var evil = Multiaddress.Parse("/ip4/198.51.100.66/tcp/4000");
        await using var admin = await Harness.AdminAsync(_redis);
        var db = admin.GetDatabase();

        // 1. A record for the victim signed by the attacker's key.
        var forged = SignedEnvelope.Seal(attacker, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType,
            new PeerRecord(victim.PeerId, ulong.MaxValue - 1, [evil]).Marshal()).Marshal();
        await db.StringSetAsync(options.NodeKeyPrefix + victim.PeerId, forged, TimeSpan.FromMinutes(1));
        // 2. The attacker's own valid record stored under the victim's key name.
        var misfiled = new PeerRecord(attacker.PeerId, 1, [evil]).Seal(attacker).Marshal();
        var misfiledKey = options.NodeKeyPrefix + Ed25519PrivateKey.Generate().PeerId;
        await db.StringSetAsync(misfiledKey, misfiled, TimeSpan.FromMinutes(1));
        // 3. A victim record with its addresses changed after signing.
        var genuine = new PeerRecord(victim.PeerId, 5, [Multiaddress.Parse("/ip4/198.51.100.10/tcp/4000")]).Seal(victim).Marshal();
        var tampered = Tamper(genuine, Multiaddress.Parse("/ip4/198.51.100.10/tcp/4000").ToBytes(), evil.ToBytes());
        var third = Ed25519PrivateKey.Generate();
        await db.StringSetAsync(options.NodeKeyPrefix + third.PeerId, Tamper(
            new PeerRecord(third.PeerId, 5, [Multiaddress.Parse("/ip4/198.51.100.10/tcp/4000")]).Seal(third).Marshal(),
            Multiaddress.Parse("/ip4/198.51.100.10/tcp/4000").ToBytes(), evil.ToBytes()), TimeSpan.FromMinutes(1));

        var clientLog = new TestLog();
        await using var client = new RedisNodeDirectory(options, clientLog);
        var changes = new ChangeLog(client);
        await client.StartAsync();
        Assert.Equal(0, client.Count);
        Assert.Equal(3, clientLog.Count("RecordRejected"));
        Assert.Contains(clientLog.Lines, l => l.Text.Contains($"is signed by {attacker.PeerId}", StringComparison.Ordinal));
        Assert.Contains(clientLog.Lines, l => l.Text.Contains($"the key names", StringComparison.Ordinal));
        Assert.Contains(clientLog.Lines, l => l.Text.Contains("signature does not verify", StringComparison.Ordinal));

        // The same by pub/sub: forged and tampered joins, then a forged leave for a real node.
        var sub = admin.GetSubscriber();
        var events = RedisChannel.Literal(options.EventsChannel);
        await sub.PublishAsync(events, DiscoveryMessages.Join(forged, TimeSpan.FromMinutes(1)));
        await sub.PublishAsync(events, DiscoveryMessages.Join(tampered, TimeSpan.FromMinutes(1)));
        await using var real = Harness.Node(options, key: victim);
        await real.StartAnnouncedAsync();
        await Wait.UntilAsync(() => client.TryGet(victim.PeerId) is not null, "the genuine node is seen");
        var forgedLeave = SignedEnvelope.Seal(attacker, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType,
            new PeerRecord(victim.PeerId, ulong.MaxValue, []).Marshal()).Marshal();
        await sub.PublishAsync(events, DiscoveryMessages.Leave(victim.PeerId, forgedLeave));
        // Ordering marker: a real node joins after the forged leave; once it is seen, the leave was handled.
        await using var marker = Harness.Node(options);
        await marker.StartAnnouncedAsync();
        await Wait.UntilAsync(() => client.TryGet(marker.PeerId) is not null, "the marker node is seen");

        var node = client.TryGet(victim.PeerId);
        Assert.NotNull(node);
        Assert.DoesNotContain(node.Addresses, a => a.ToString().Contains("198.51.100.66", StringComparison.Ordinal));
        Assert.Equal(real.Addresses, node.Addresses.Select(a => a.WithoutPeerId()));
        Assert.False(changes.Has(NodeChangeKind.Left, victim.PeerId));
        Assert.True(clientLog.Count("MessageRecordRejected") >= 3);
        Assert.All(clientLog.Lines.Where(l => l.Id.Name == "MessageRecordRejected"), l => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, l.Level));
    }

    private static byte[] Tamper(byte[] data, byte[] from, byte[] to)
    {
        var i = data.AsSpan().IndexOf(from);
        Assert.True(i >= 0);
        Assert.Equal(from.Length, to.Length);
        var copy = (byte[])data.Clone();
        to.CopyTo(copy, i);
        return copy;
    }

    [Fact]
    public async Task GoClientRequest_IsAnsweredInGoFormat()
    {
        var options = Harness.Options(_redis);
        await using var node = Harness.Node(options);
        await node.StartAnnouncedAsync();
        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();

        // Play the Go client: subscribe to the reply channel, then publish json.Marshal'ed request on the topic.
        var reply = RedisChannel.Literal("client-reply-1728671924123456789");
        var queue = await sub.SubscribeAsync(reply);
        await sub.PublishAsync(RedisChannel.Literal(options.Topic), """{"action":"discover","reply":"client-reply-1728671924123456789"}""");
        using var cts = new CancellationTokenSource(Wait.Long);
        var message = await queue.ReadAsync(cts.Token);

        var text = (string)message.Message!;
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(node.PeerId.ToString(), doc.RootElement.GetProperty("id").GetString());
        var addrs = doc.RootElement.GetProperty("addrs").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal([node.Addresses[0].WithPeerId(node.PeerId).ToString()], addrs);
        Assert.StartsWith($$"""{"id":"{{node.PeerId}}","addrs":["{{node.Addresses[0]}}/p2p/{{node.PeerId}}"]""", text, StringComparison.Ordinal);
        await queue.UnsubscribeAsync();
    }

    [Fact]
    public async Task GoStyleNode_IsFoundByOurClient_AndDroppedAfterThreeSilentRounds()
    {
        var options = Harness.Options(_redis);
        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();
        using var goKey = Ed25519PrivateKey.Generate();
        var goId = goKey.PeerId.ToString();
        var answering = true;
        var requests = new List<string>();
        // Play a Go node: answer every discover request on the topic with {"id","addrs"} (no signature).
        await sub.SubscribeAsync(RedisChannel.Literal(options.Topic), (_, v) =>
        {
            var text = (string)v!;
            lock (requests)
            {
                requests.Add(text);
            }
            using var doc = JsonDocument.Parse(text);
            if (!answering || !doc.RootElement.TryGetProperty("reply", out var r))
            {
                return;
            }
            var json = $$"""{"id":"{{goId}}","addrs":["/ip4/192.0.2.7/tcp/4000/p2p/{{goId}}","/ip4/127.0.0.1/tcp/4000/p2p/{{goId}}"]}""";
            sub.Publish(RedisChannel.Literal(r.GetString()!), json);
        });

        await using var client = new RedisNodeDirectory(options, new TestLog());
        var log = new ChangeLog(client);
        await client.StartAsync();
        await Wait.UntilAsync(() => client.TryGet(goKey.PeerId) is not null, "the Go node is found");
        var node = client.TryGet(goKey.PeerId)!;
        Assert.False(node.Verified);
        Assert.Equal(NodeSources.GoReply, node.Sources);
        Assert.Equal(2, node.Addresses.Count);
        Assert.All(node.Addresses, a => Assert.Equal(goKey.PeerId, a.PeerId));
        string first;
        lock (requests)
        {
            first = requests[0];
        }
        using (var doc = JsonDocument.Parse(first))
        {
            Assert.Equal("discover", doc.RootElement.GetProperty("action").GetString());
            Assert.StartsWith("client-reply-", doc.RootElement.GetProperty("reply").GetString(), StringComparison.Ordinal);
        }

        // Still answering: the client keeps it across rounds.
        await Wait.UntilAsync(() => { lock (requests) { return requests.Count >= 4; } }, "four rounds were sent");
        Assert.NotNull(client.TryGet(goKey.PeerId));

        answering = false;
        await Wait.UntilAsync(() => client.TryGet(goKey.PeerId) is null, "the silent Go node is dropped");
        Assert.Equal(NodeLeftReason.NotSeen, log.Last(goKey.PeerId)!.Value.Reason);
        int sent;
        lock (requests)
        {
            sent = requests.Count;
        }
        Assert.True(sent >= 6, $"dropped after {sent} requests");
    }

    [Fact]
    public async Task GoReply_ForAnotherPeersAddresses_IsRejected()
    {
        var options = Harness.Options(_redis);
        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();
        using var a = Ed25519PrivateKey.Generate();
        using var b = Ed25519PrivateKey.Generate();
        var replies = 0;
        await sub.SubscribeAsync(RedisChannel.Literal(options.Topic), (_, v) =>
        {
            using var doc = JsonDocument.Parse((string)v!);
            var reply = RedisChannel.Literal(doc.RootElement.GetProperty("reply").GetString()!);
            sub.Publish(reply, $$"""{"id":"{{a.PeerId}}","addrs":["/ip4/192.0.2.7/tcp/4000/p2p/{{b.PeerId}}"]}""");
            sub.Publish(reply, """{"id":"not-a-peer-id","addrs":[]}""");
            sub.Publish(reply, "garbage");
            sub.Publish(reply, $$"""{"id":"{{b.PeerId}}","addrs":["/ip4/192.0.2.8/tcp/4000/p2p/{{b.PeerId}}"]}""");
            Interlocked.Increment(ref replies);
        });
        var log = new TestLog();
        await using var client = new RedisNodeDirectory(options, log);
        await client.StartAsync();
        await Wait.UntilAsync(() => client.TryGet(b.PeerId) is not null, "the honest Go node is found");
        Assert.Null(client.TryGet(a.PeerId));
        Assert.True(log.Count("GoReplyRejected") >= 3);
    }

    [Fact]
    public async Task MalformedMessages_AreIgnored_NodesAndClientsKeepWorking()
    {
        var options = Harness.Options(_redis);
        var nodeLog = new TestLog();
        await using var node = Harness.Node(options, nodeLog);
        await node.StartAnnouncedAsync();
        var clientLog = new TestLog();
        await using var client = new RedisNodeDirectory(options, clientLog);
        await client.StartAsync();

        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();
        var junk = new RedisValue[]
        {
            "not json", "{", "[]", "null", "{\"type\":\"join\",\"envelope\":\"!!!\"}", "{\"type\":\"join\",\"envelope\":\"AAAA\"}",
            "{\"type\":\"leave\",\"envelope\":\"AAAA\"}", "{\"action\":\"discover\"}", new byte[] { 0xff, 0xfe, 0x00, 0x01 },
            new string('x', 100_000), "{\"reply\":\"" + options.EventsChannel + "\"}",
        };
        foreach (var j in junk)
        {
            await sub.PublishAsync(RedisChannel.Literal(options.EventsChannel), j);
            await sub.PublishAsync(RedisChannel.Literal(options.Topic), j);
        }

        // Both still work: a new node is seen by the client, and the node still answers a Go request.
        await using var second = Harness.Node(options);
        await second.StartAnnouncedAsync();
        await Wait.UntilAsync(() => client.TryGet(second.PeerId) is not null, "the client still sees joins");
        var queue = await sub.SubscribeAsync(RedisChannel.Literal("client-reply-after-junk"));
        await sub.PublishAsync(RedisChannel.Literal(options.Topic), "{\"action\":\"discover\",\"reply\":\"client-reply-after-junk\"}");
        using var cts = new CancellationTokenSource(Wait.Long);
        var answers = new HashSet<string>();
        while (answers.Count < 2)
        {
            using var doc = JsonDocument.Parse((string)(await queue.ReadAsync(cts.Token)).Message!);
            answers.Add(doc.RootElement.GetProperty("id").GetString()!);
        }
        Assert.Contains(node.PeerId.ToString(), answers);
        Assert.True(clientLog.Count("MalformedMessage") + clientLog.Count("MessageRecordRejected") >= 9);
        Assert.True(nodeLog.Count("MalformedMessage") >= 7);
        Assert.All(clientLog.Lines.Concat(nodeLog.Lines).Where(l => l.Id.Name == "MalformedMessage"),
            l => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, l.Level));
    }

    [Fact]
    public async Task NewerRecordsWin_OlderOnesAndReplayedLeavesAreIgnored()
    {
        var options = Harness.Options(_redis);
        options.Ttl = TimeSpan.FromSeconds(60);
        options.Heartbeat = TimeSpan.FromSeconds(20);
        using var key = Ed25519PrivateKey.Generate();
        await using var node = Harness.Node(options, key: key);
        await node.StartAnnouncedAsync();
        await using var client = new RedisNodeDirectory(options, new TestLog());
        var log = new ChangeLog(client);
        await client.StartAsync();
        var oldSeq = node.Seq;
        var oldEnvelope = new PeerRecord(key.PeerId, oldSeq - 1, [Multiaddress.Parse("/ip4/198.51.100.1/tcp/1")]).Seal(key).Marshal();

        var moved = Multiaddress.Parse("/ip4/198.51.100.2/tcp/4000");
        await node.UpdateAddressesAsync([moved]);
        await Wait.UntilAsync(() => client.TryGet(key.PeerId)?.Seq == node.Seq, "the update is seen");
        Assert.Equal([moved.WithPeerId(key.PeerId)], client.TryGet(key.PeerId)!.Addresses);
        Assert.True(log.Has(NodeChangeKind.Updated, key.PeerId));

        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();
        var events = RedisChannel.Literal(options.EventsChannel);
        await sub.PublishAsync(events, DiscoveryMessages.Join(oldEnvelope, options.Ttl));
        var oldLeave = new PeerRecord(key.PeerId, oldSeq, []).Seal(key).Marshal();
        await sub.PublishAsync(events, DiscoveryMessages.Leave(key.PeerId, oldLeave));
        await using var marker = Harness.Node(options);
        await marker.StartAnnouncedAsync();
        await Wait.UntilAsync(() => client.TryGet(marker.PeerId) is not null, "the marker node is seen");
        Assert.Equal([moved.WithPeerId(key.PeerId)], client.TryGet(key.PeerId)!.Addresses);
        Assert.False(log.Has(NodeChangeKind.Left, key.PeerId));
    }

    [Fact]
    public async Task StaticNodes_MergeWithDiscoveredOnes_AndNeverLeave()
    {
        var options = Harness.Options(_redis);
        using var key = Ed25519PrivateKey.Generate();
        var staticAddr = Multiaddress.Parse("/dns4/static.example.org/tcp/4000");
        var onlyStatic = Ed25519PrivateKey.Generate().PeerId;
        await using var client = new RedisNodeDirectory(options, new TestLog(), staticNodes:
        [
            new StaticNode(key.PeerId, [staticAddr.WithPeerId(key.PeerId)]),
            new StaticNode(onlyStatic, [Multiaddress.Parse("/ip4/192.0.2.1/tcp/4000")]),
        ]);
        var log = new ChangeLog(client);
        Assert.Equal(2, client.Count);
        await client.StartAsync();

        await using var node = Harness.Node(options, key: key);
        await node.StartAnnouncedAsync();
        await Wait.UntilAsync(() => client.TryGet(key.PeerId)?.Sources == (NodeSources.Static | NodeSources.SignedRecord), "the discovered record merges");
        var merged = client.TryGet(key.PeerId)!;
        Assert.Equal([staticAddr.WithPeerId(key.PeerId), node.Addresses[0].WithPeerId(key.PeerId)], merged.Addresses);
        Assert.True(merged.Verified);

        await node.StopAsync();
        await Wait.UntilAsync(() => client.TryGet(key.PeerId)?.Sources == NodeSources.Static, "the record part leaves");
        Assert.Equal([staticAddr.WithPeerId(key.PeerId)], client.TryGet(key.PeerId)!.Addresses);
        Assert.False(log.Has(NodeChangeKind.Left, key.PeerId));
        Assert.NotNull(client.TryGet(onlyStatic));
    }

    [Fact]
    public async Task Watch_ReplaysTheSnapshotThenFollowsChanges()
    {
        var options = Harness.Options(_redis);
        await using var first = Harness.Node(options);
        await first.StartAnnouncedAsync();
        await using var client = new RedisNodeDirectory(options, new TestLog());
        using var cts = new CancellationTokenSource(Wait.Long);
        await using var beforeStart = client.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var pending = beforeStart.MoveNextAsync();
        await client.StartAsync();
        Assert.True(await pending);
        Assert.Equal((NodeChangeKind.Joined, first.PeerId), (beforeStart.Current.Kind, beforeStart.Current.Node.PeerId));
        await using var e = client.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await e.MoveNextAsync());
        Assert.Equal((NodeChangeKind.Joined, first.PeerId), (e.Current.Kind, e.Current.Node.PeerId));

        await using var second = Harness.Node(options);
        await second.StartAnnouncedAsync();
        Assert.True(await e.MoveNextAsync());
        Assert.Equal((NodeChangeKind.Joined, second.PeerId), (e.Current.Kind, e.Current.Node.PeerId));
        await first.StopAsync();
        Assert.True(await e.MoveNextAsync());
        Assert.Equal((NodeChangeKind.Left, first.PeerId, NodeLeftReason.Left), (e.Current.Kind, e.Current.Node.PeerId, e.Current.Reason));
    }

    [Fact]
    public async Task ManyNodes_AreAllReadAtStart()
    {
        var options = Harness.Options(_redis);
        options.Ttl = TimeSpan.FromSeconds(60);
        options.Heartbeat = TimeSpan.FromSeconds(20);
        await using var shared = await Harness.AdminAsync(_redis);
        var nodes = new List<RedisNodeAnnouncer>();
        for (var i = 0; i < 150; i++)
        {
            var n = new RedisNodeAnnouncer(options, Ed25519PrivateKey.Generate(), [Harness.NextAddress()], shared, new TestLog());
            nodes.Add(n);
        }
        await Task.WhenAll(nodes.Select(n => n.StartAnnouncedAsync()));
        await using var client = new RedisNodeDirectory(options, new TestLog());
        await client.StartAsync();
        Assert.Equal(150, client.Count);
        Assert.All(nodes, n => Assert.NotNull(client.TryGet(n.PeerId)));
        foreach (var n in nodes)
        {
            await n.StopAsync();
        }
        await Wait.UntilAsync(() => client.Count == 0, "all nodes left");
    }

    [Fact]
    public async Task Node_LeavesOurClientsRequestsToTheSignedRecords_AndThrottlesAFlood()
    {
        var options = Harness.Options(_redis);
        var nodeLog = new TestLog();
        await using var node = Harness.Node(options, nodeLog);
        await node.StartAnnouncedAsync();
        await using var admin = await Harness.AdminAsync(_redis);
        var sub = admin.GetSubscriber();
        var topic = RedisChannel.Literal(options.Topic);

        var ours = await sub.SubscribeAsync(RedisChannel.Literal("client-reply-ours"));
        var go = await sub.SubscribeAsync(RedisChannel.Literal("client-reply-go"));
        await sub.PublishAsync(topic, DiscoveryMessages.GoRequest("client-reply-ours", hasRecords: true));
        await sub.PublishAsync(topic, DiscoveryMessages.GoRequest("client-reply-go", hasRecords: false));
        using var cts = new CancellationTokenSource(Wait.Long);
        await go.ReadAsync(cts.Token);
        await sub.PublishAsync(topic, DiscoveryMessages.GoRequest("client-reply-go", hasRecords: false));
        await go.ReadAsync(cts.Token);
        // (The node logs an answer after its PUBLISH completes, so the reply may arrive before the log line.)
        await Wait.UntilAsync(() => nodeLog.Count("GoRequestAnswered") >= 2, "both Go requests are logged as answered");
        Assert.False(ours.TryRead(out _));

        // A flood of requests with fresh reply channels: at most the burst plus the refill is answered.
        var flood = RedisNodeAnnouncer.GoAnswersPerSecond * 10;
        await Task.WhenAll(Enumerable.Range(0, flood).Select(i => sub.PublishAsync(topic, DiscoveryMessages.GoRequest("flood-" + i, hasRecords: false))));
        await Wait.UntilAsync(() => nodeLog.Count("GoRequestAnswered") + nodeLog.Count("GoAnswerThrottled") >= flood + 2, "the node handled the flood");
        Assert.True(nodeLog.Count("GoAnswerThrottled") > 0);
        await ours.UnsubscribeAsync();
        await go.UnsubscribeAsync();
    }
}
