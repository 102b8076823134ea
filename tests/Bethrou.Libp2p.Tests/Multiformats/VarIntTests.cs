using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Tests.Multiformats;

public class VarIntTests
{
    [Theory]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    [InlineData(300UL, "ac02")]
    [InlineData(16384UL, "808001")]
    public void Vectors(ulong value, string hex)
    {
        Assert.Equal(hex, Convert.ToHexString(VarInt.Encode(value)).ToLowerInvariant());
        Assert.Equal(VarIntStatus.Ok, VarInt.TryRead(Convert.FromHexString(hex), out var v, out var n));
        Assert.Equal(value, v);
        Assert.Equal(hex.Length / 2, n);
    }

    [Fact]
    public void RejectsNonMinimalTruncatedAndOverlong()
    {
        Assert.Equal(VarIntStatus.NotMinimal, VarInt.TryRead(new byte[] { 0x80, 0x00 }, out _, out _));
        Assert.Equal(VarIntStatus.NeedMoreData, VarInt.TryRead(new byte[] { 0x80, 0x80 }, out _, out _));
        Assert.Equal(VarIntStatus.Overflow, VarInt.TryRead(Enumerable.Repeat((byte)0xff, 10).ToArray(), out _, out _));
        Assert.Equal("truncated varint", Assert.Throws<FormatException>(() => VarInt.Read(new byte[] { 0x80 }, out _)).Message);
    }

    [Fact]
    public void Base58RoundTripsLeadingZeros()
    {
        var data = new byte[] { 0, 0, 1, 2, 3, 255 };
        Assert.Equal(data, Base58.Decode(Base58.Encode(data)));
        Assert.False(Base58.TryDecode("0OIl", out _));
    }
}
