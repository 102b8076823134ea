using System.Text;
using System.Text.Json;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Discovery.Tests;

public class DiscoveryMessagesTests
{
    private const int Max = 64 * 1024;

    [Fact]
    public void GoRequest_IsExactlyWhatGoMarshals()
    {
        var bytes = DiscoveryMessages.GoRequest("client-reply-1728671924123456789", hasRecords: false);
        Assert.Equal("""{"action":"discover","reply":"client-reply-1728671924123456789"}""", Encoding.UTF8.GetString(bytes));
        var ours = DiscoveryMessages.GoRequest("client-reply-1", hasRecords: true);
        Assert.Equal("""{"action":"discover","reply":"client-reply-1","records":true}""", Encoding.UTF8.GetString(ours));
    }

    [Fact]
    public void GoReply_HasGoFieldsFirstAndRoundTrips()
    {
        using var key = Ed25519PrivateKey.Generate();
        var id = key.PeerId;
        var addrs = new[] { Multiaddress.Parse("/ip4/203.0.113.7/tcp/4000").WithPeerId(id) };
        var env = new PeerRecord(id, 5, [Multiaddress.Parse("/ip4/203.0.113.7/tcp/4000")]).Seal(key).Marshal();
        var bytes = DiscoveryMessages.GoReply(id, addrs, env);
        var text = Encoding.UTF8.GetString(bytes);
        Assert.StartsWith($$"""{"id":"{{id}}","addrs":["/ip4/203.0.113.7/tcp/4000/p2p/{{id}}"],"envelope":""", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal); // '+' and '/' of base64 are not escaped (Go does not either)
        Assert.True(DiscoveryMessages.TryParse(bytes, Max, out var msg, out var err), err);
        Assert.Equal(DiscoveryMessageKind.GoReply, msg.Kind);
        Assert.Equal(id.ToString(), msg.Id);
        Assert.Equal(addrs.Select(a => a.ToString()), msg.Addrs);
        Assert.Equal(env, msg.Envelope);
    }

    [Fact]
    public void JoinAndLeave_RoundTrip()
    {
        var env = new byte[] { 1, 2, 3, 250, 251, 252 };
        Assert.True(DiscoveryMessages.TryParse(DiscoveryMessages.Join(env, TimeSpan.FromSeconds(30)), Max, out var join, out var err), err);
        Assert.Equal(DiscoveryMessageKind.Join, join.Kind);
        Assert.Equal(env, join.Envelope);
        Assert.Equal(TimeSpan.FromSeconds(30), join.Ttl);

        using var key = Ed25519PrivateKey.Generate();
        Assert.True(DiscoveryMessages.TryParse(DiscoveryMessages.Leave(key.PeerId, env), Max, out var leave, out err), err);
        Assert.Equal(DiscoveryMessageKind.Leave, leave.Kind);
        Assert.Equal(key.PeerId.ToString(), leave.Id);
        Assert.Equal(env, leave.Envelope);
    }

    [Theory]
    [InlineData("""{"action":"discover","reply":"r1"}""", "r1", false)]
    [InlineData("""{"reply":"r2"}""", "r2", false)]
    [InlineData("""  {"action":"","reply":"r3","extra":{"a":[1,2]}} """ + "\n", "r3", false)]
    [InlineData("""{"action":"discover","reply":"r4","records":true}""", "r4", true)]
    public void GoRequest_AcceptedAsGoNodesAcceptIt(string json, string reply, bool records)
    {
        Assert.True(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(json), Max, out var msg, out var err), err);
        Assert.Equal(DiscoveryMessageKind.GoRequest, msg.Kind);
        Assert.Equal(reply, msg.Reply);
        Assert.Equal(records, msg.HasRecords);
    }

    [Theory]
    [InlineData("", "empty message")]
    [InlineData("   \n", "empty message")]
    [InlineData("hello", "invalid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("\"x\"", "not a JSON object")]
    [InlineData("{\"type\":\"join\"", "invalid JSON: Expected depth to be zero")]
    [InlineData("{\"type\":\"join\",\"envelope\":\"AAAA\"}{}", "trailing data after the JSON object")]
    [InlineData("{}", "not a discovery message (no type, reply or id/addrs)")]
    [InlineData("{\"type\":\"join\"}", "join message has no envelope")]
    [InlineData("{\"type\":\"leave\",\"envelope\":\"***\"}", "leave message envelope is not base64")]
    [InlineData("{\"type\":\"hello\",\"envelope\":\"AAAA\"}", "unknown message type 'hello'")]
    [InlineData("{\"type\":7}", "invalid JSON: field type is not a string")]
    [InlineData("{\"type\":\"join\",\"envelope\":\"AAAA\",\"ttl_ms\":-5}", "field ttl_ms is not a positive integer")]
    [InlineData("{\"type\":\"join\",\"envelope\":\"AAAA\",\"ttl_ms\":\"5\"}", "field ttl_ms is not a positive integer")]
    [InlineData("{\"action\":\"delete\",\"reply\":\"r\"}", "unknown action 'delete'")]
    [InlineData("{\"action\":\"discover\"}", "discover request without a reply channel")]
    [InlineData("{\"action\":\"discover\",\"reply\":\"\"}", "discover request without a reply channel")]
    [InlineData("{\"id\":\"x\"}", "not a discovery message (no type, reply or id/addrs)")]
    [InlineData("{\"id\":\"x\",\"addrs\":\"/ip4/1.2.3.4\"}", "field addrs is not an array")]
    [InlineData("{\"id\":\"x\",\"addrs\":[1]}", "invalid JSON: field addrs[] is not a string")]
    [InlineData("{\"id\":\"x\",\"addrs\":[null]}", "invalid JSON: addrs[] holds a null")]
    [InlineData("{\"id\":\"x\",\"addrs\":[],\"envelope\":\"%%\"}", "reply envelope is not base64")]
    public void Malformed_IsRejectedWithThePreciseReason(string json, string expected)
    {
        Assert.False(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(json), Max, out _, out var err));
        Assert.StartsWith(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public void Oversized_AndTooManyAddrs_AreRejected()
    {
        var big = Encoding.UTF8.GetBytes("{\"type\":\"join\",\"envelope\":\"" + new string('A', 2000) + "\"}");
        Assert.False(DiscoveryMessages.TryParse(big, 1024, out _, out var err));
        Assert.Equal($"message of {big.Length} bytes exceeds the 1024-byte limit", err);

        var many = "{\"id\":\"x\",\"addrs\":[" + string.Join(",", Enumerable.Repeat("\"/ip4/1.2.3.4/tcp/1\"", 65)) + "]}";
        Assert.False(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(many), Max, out _, out err));
        Assert.Equal("field addrs has more than 64 entries", err);

        var longString = "{\"reply\":\"" + new string('r', DiscoveryMessages.MaxStringLength + 1) + "\"}";
        Assert.False(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(longString), 1024 * 1024, out _, out err));
        Assert.Equal($"invalid JSON: field reply is longer than {DiscoveryMessages.MaxStringLength} bytes", err);

        var deep = "{\"x\":" + string.Concat(Enumerable.Repeat("[", 10)) + string.Concat(Enumerable.Repeat("]", 10)) + ",\"reply\":\"r\"}";
        Assert.False(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(deep), Max, out _, out err));
        Assert.StartsWith("invalid JSON", err, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryTruncation_IsRejectedWithoutThrowing()
    {
        using var key = Ed25519PrivateKey.Generate();
        var samples = new[]
        {
            DiscoveryMessages.Join(new PeerRecord(key.PeerId, 1, []).Seal(key).Marshal(), TimeSpan.FromSeconds(30)),
            DiscoveryMessages.GoRequest("client-reply-42", hasRecords: true),
            DiscoveryMessages.GoReply(key.PeerId, [Multiaddress.Parse("/ip4/1.2.3.4/tcp/1").WithPeerId(key.PeerId)], null),
        };
        foreach (var full in samples)
        {
            Assert.True(DiscoveryMessages.TryParse(full, Max, out _, out var fullErr), fullErr);
            for (var cut = 0; cut < full.Length; cut++)
            {
                var ok = DiscoveryMessages.TryParse(full.AsSpan(0, cut), Max, out _, out var err);
                Assert.False(ok, $"prefix of {cut} bytes parsed");
                Assert.NotEmpty(err);
            }
        }
    }

    [Fact]
    public void RandomGarbage_NeverThrows()
    {
        var random = new Random(1234);
        var buffer = new byte[200];
        for (var i = 0; i < 2000; i++)
        {
            var n = random.Next(buffer.Length);
            random.NextBytes(buffer.AsSpan(0, n));
            if (i % 2 == 0)
            {
                buffer[0] = (byte)'{';
            }
            DiscoveryMessages.TryParse(buffer.AsSpan(0, n), Max, out _, out _);
        }
    }

    [Fact]
    public void GoNodeReply_AsGoWritesIt_Parses()
    {
        // What a Go node publishes: json.Marshal of {ID, Addrs} with the /p2p suffix on every address.
        const string id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        var json = $$"""{"id":"{{id}}","addrs":["/ip4/127.0.0.1/tcp/4000/p2p/{{id}}","/ip4/172.17.0.2/tcp/4000/p2p/{{id}}"]}""";
        Assert.True(DiscoveryMessages.TryParse(Encoding.UTF8.GetBytes(json), Max, out var msg, out var err), err);
        Assert.Equal(DiscoveryMessageKind.GoReply, msg.Kind);
        Assert.Null(msg.Envelope);
        Assert.Equal(2, msg.Addrs!.Count);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(id, doc.RootElement.GetProperty("id").GetString());
    }
}
