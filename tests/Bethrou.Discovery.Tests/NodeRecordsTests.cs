using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Discovery.Tests;

public class NodeRecordsTests
{
    [Fact]
    public void OwnAddresses_StripsOwnP2p_DropsOthers()
    {
        using var a = Ed25519PrivateKey.Generate();
        using var b = Ed25519PrivateKey.Generate();
        var relayed = Multiaddress.Parse($"/ip4/198.51.100.1/tcp/4001/p2p/{b.PeerId}/p2p-circuit");
        var list = NodeRecords.OwnAddresses(
            a.PeerId,
            [
                Multiaddress.Parse("/ip4/198.51.100.2/tcp/4000").WithPeerId(a.PeerId),
                Multiaddress.Parse("/ip4/198.51.100.3/tcp/4000").WithPeerId(b.PeerId),
                Multiaddress.Parse("/ip4/198.51.100.2/tcp/4000"),
                relayed,
                relayed.WithPeerId(a.PeerId),
                Multiaddress.Parse($"/p2p/{a.PeerId}"),
            ],
            out var dropped);
        Assert.Equal([Multiaddress.Parse("/ip4/198.51.100.2/tcp/4000"), relayed], list);
        Assert.Equal(2, dropped);
    }

    [Fact]
    public void TryOpen_ChecksSignatureSignerAndSize()
    {
        using var a = Ed25519PrivateKey.Generate();
        using var b = Ed25519PrivateKey.Generate();
        var good = new PeerRecord(a.PeerId, 7, [Multiaddress.Parse("/ip4/198.51.100.2/tcp/4000")]).Seal(a).Marshal();
        Assert.True(NodeRecords.TryOpen(good, 4096, out var rec, out var err), err);
        Assert.Equal(a.PeerId, rec.PeerId);
        Assert.Equal(7UL, rec.Seq);

        var tampered = (byte[])good.Clone();
        tampered[^70] ^= 1; // inside the payload
        Assert.False(NodeRecords.TryOpen(tampered, 4096, out _, out err));
        Assert.Equal("signed envelope signature does not verify", err);

        var forged = SignedEnvelope.Seal(b, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType,
            new PeerRecord(a.PeerId, 8, []).Marshal()).Marshal();
        Assert.False(NodeRecords.TryOpen(forged, 4096, out _, out err));
        Assert.Equal($"peer record for {a.PeerId} is signed by {b.PeerId}", err);

        Assert.False(NodeRecords.TryOpen(good, 16, out _, out err));
        Assert.Equal($"record of {good.Length} bytes exceeds the 16-byte limit", err);
        Assert.False(NodeRecords.TryOpen([], 16, out _, out err));
        Assert.Equal("empty record", err);
        for (var cut = 1; cut < good.Length; cut++)
        {
            Assert.False(NodeRecords.TryOpen(good.AsSpan(0, cut), 4096, out _, out err));
            Assert.NotEmpty(err);
        }
    }

    [Fact]
    public void NextSeq_FollowsTimeAndNeverRepeats()
    {
        var t = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var s1 = NodeRecords.NextSeq(0, t);
        Assert.Equal(1_700_000_000UL * 1_000_000_000UL, s1);
        Assert.Equal(s1 + 1, NodeRecords.NextSeq(s1, t));
        Assert.Equal(s1 + 1, NodeRecords.NextSeq(s1, t.AddSeconds(-5)));
    }

    [Fact]
    public void KeyPattern_EscapesGlobCharacters()
    {
        Assert.Equal("bethrou-nodes:node:*", NodeRecords.KeyPattern("bethrou-nodes:node:"));
        Assert.Equal(@"a\*b\?c\[d\]e\\f:node:*", NodeRecords.KeyPattern(@"a*b?c[d]e\f:node:"));
    }
}
