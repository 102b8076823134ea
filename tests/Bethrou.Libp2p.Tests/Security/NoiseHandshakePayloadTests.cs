using Bethrou.Libp2p.Security.Noise;

namespace Bethrou.Libp2p.Tests.Security;

public class NoiseHandshakePayloadTests
{
    private static readonly byte[] Key = NoiseTestKeys.Hex("0801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");

    [Fact]
    public void RoundTripsWithMuxers()
    {
        var p = new NoiseHandshakePayload { IdentityKey = Key, IdentitySig = new byte[64], StreamMuxers = ["/yamux/1.0.0", "/mplex/6.7.0"] };
        var bytes = p.Encode();
        Assert.Null(NoiseHandshakePayload.TryDecode(bytes, out var back));
        Assert.Equal(Key, back.IdentityKey);
        Assert.Equal(new byte[64], back.IdentitySig);
        Assert.Equal(["/yamux/1.0.0", "/mplex/6.7.0"], back.StreamMuxers);
    }

    [Fact]
    public void NoExtensionsMeansNullMuxers()
    {
        var bytes = new NoiseHandshakePayload { IdentityKey = Key, IdentitySig = [1, 2] }.Encode();
        Assert.Equal("0a24" + Convert.ToHexStringLower(Key) + "12020102", Convert.ToHexStringLower(bytes));
        Assert.Null(NoiseHandshakePayload.TryDecode(bytes, out var back));
        Assert.Null(back.StreamMuxers);
    }

    [Fact]
    public void EmptyExtensionsMessageMeansNullMuxers()
    {
        Assert.Null(NoiseHandshakePayload.TryDecode(NoiseTestKeys.Hex("2200"), out var back));
        Assert.Null(back.StreamMuxers);
        Assert.Null(back.IdentityKey);
    }

    [Fact]
    public void IgnoresUnknownFieldsAndCerthashes()
    {
        // field 3 varint, field 5 fixed64, field 6 fixed32, field 7 bytes; extensions = certhash (1), experimental
        // field 1025 (varint), stream_muxers; then identity_sig after the extensions
        var hex = "0a02aabb" + "1803" + "290102030405060708" + "3501020304" + "3a03010203"
            + "2216" + "0a03010203" + "884005" + "120c2f79616d75782f312e302e30" + "1201cc";
        Assert.Null(NoiseHandshakePayload.TryDecode(NoiseTestKeys.Hex(hex), out var back));
        Assert.Equal([0xaa, 0xbb], back.IdentityKey);
        Assert.Equal(["/yamux/1.0.0"], back.StreamMuxers);
        Assert.Equal([0xcc], back.IdentitySig);
    }

    [Fact]
    public void RepeatedExtensionsMerge()
    {
        Assert.Null(NoiseHandshakePayload.TryDecode(NoiseTestKeys.Hex("2203120161" + "2203120162"), out var back));
        Assert.Equal(["a", "b"], back.StreamMuxers);
    }

    [Fact]
    public void AcceptsNonMinimalProtobufVarints()
    {
        // length 2 written as 0x82 0x00
        Assert.Null(NoiseHandshakePayload.TryDecode(NoiseTestKeys.Hex("0a8200aabb"), out var back));
        Assert.Equal([0xaa, 0xbb], back.IdentityKey);
    }

    [Theory]
    [InlineData("0a", "identity_key: length: truncated varint")]
    [InlineData("0a05aabb", "identity_key: length 5 runs past the end of the message (2 bytes left)")]
    [InlineData("0801", "field 1 (identity_key) has wire type 0, expected 2")]
    [InlineData("1501020304", "field 2 (identity_sig) has wire type 5, expected 2")]
    [InlineData("2001", "field 4 (extensions) has wire type 0, expected 2")]
    [InlineData("2205120361", "extensions: length 5 runs past the end of the message (3 bytes left)")]
    [InlineData("22021203", "extensions: stream_muxers: length 3 runs past the end of the message (0 bytes left)")]
    [InlineData("22021001", "extensions: field 2 (stream_muxers) has wire type 0, expected 2")]
    [InlineData("220312 01ff", "extensions: a stream_muxers entry is not valid UTF-8")]
    [InlineData("0001", "field number 0 is invalid")]
    [InlineData("80", "tag: truncated varint")]
    [InlineData("3b", "unknown field 7: unsupported wire type 3")]
    [InlineData("29010203", "unknown field 5: truncated fixed64")]
    [InlineData("3501", "unknown field 6: truncated fixed32")]
    [InlineData("18ffffffffffffffffff7f", "unknown field 3: varint overflows 64 bits")]
    public void RejectsMalformed(string hex, string error)
    {
        Assert.Equal(error, NoiseHandshakePayload.TryDecode(NoiseTestKeys.Hex(hex), out _));
    }

    [Fact]
    public void BoundsIdentityKeyAndSig()
    {
        var big = new NoiseHandshakePayload { IdentityKey = new byte[NoiseHandshakePayload.MaxIdentityKeyLength + 1] }.Encode();
        Assert.Equal("identity_key is 2049 bytes, more than the maximum 2048", NoiseHandshakePayload.TryDecode(big, out _));
        var sig = new NoiseHandshakePayload { IdentitySig = new byte[NoiseHandshakePayload.MaxIdentitySigLength + 1] }.Encode();
        Assert.Equal("identity_sig is 1025 bytes, more than the maximum 1024", NoiseHandshakePayload.TryDecode(sig, out _));
    }

    [Fact]
    public void BoundsMuxerList()
    {
        var many = new NoiseHandshakePayload { StreamMuxers = [.. Enumerable.Range(0, NoiseHandshakePayload.MaxMuxers + 1).Select(i => $"/m/{i}")] }.Encode();
        Assert.Equal("extensions: more than 32 stream_muxers", NoiseHandshakePayload.TryDecode(many, out _));
        var longName = new NoiseHandshakePayload { StreamMuxers = [new string('x', NoiseHandshakePayload.MaxMuxerLength + 1)] }.Encode();
        Assert.Equal("extensions: a stream_muxers entry is 257 bytes, more than the maximum 256", NoiseHandshakePayload.TryDecode(longName, out _));
    }

    [Fact]
    public void TruncatedAtEveryByteFailsOrDecodesAPrefixCleanly()
    {
        // Each prefix of a valid payload is either a valid shorter payload or a precise error — never an exception.
        var bytes = new NoiseHandshakePayload { IdentityKey = Key, IdentitySig = new byte[64], StreamMuxers = ["/yamux/1.0.0"] }.Encode();
        for (var i = 0; i < bytes.Length; i++)
        {
            var error = NoiseHandshakePayload.TryDecode(bytes.AsSpan(0, i), out var p);
            Assert.True(error is not null || p is not null);
        }
    }

    [Fact]
    public void GarbageNeverThrows()
    {
        var rng = new Random(1234);
        var buf = new byte[300];
        for (var i = 0; i < 2000; i++)
        {
            rng.NextBytes(buf);
            var len = rng.Next(buf.Length);
            _ = NoiseHandshakePayload.TryDecode(buf.AsSpan(0, len), out _);
        }
    }
}
