using System.Security.Cryptography;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Libp2p.Tests.Pnet;

public class XSalsa20Tests
{
    // NaCl tests/stream3.c (and libsodium test/default/stream3.c): firstkey and nonce.
    private static readonly byte[] NaClKey = Convert.FromHexString("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
    private static readonly byte[] NaClNonce = Convert.FromHexString("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");

    public static TheoryData<string> Implementations => new() { nameof(XSalsa20Implementation.Sodium), nameof(XSalsa20Implementation.Managed) };

    [Fact]
    public void LibsodiumFromNSecLoads()
    {
        Assert.True(Sodium.IsAvailable, "libsodium (from NSec.Cryptography's package) did not load via P/Invoke 'libsodium'");
        if (System.Runtime.Intrinsics.X86.Sse2.IsSupported)
        {
            Assert.Equal(XSalsa20Implementation.Managed, XSalsa20Stream.DefaultImplementation); // measured faster on x64
        }
    }

    [Fact]
    public void HSalsa20NaClCore1Vector()
    {
        // NaCl tests/core1.c: HSalsa20(shared secret, zero nonce) = the stream tests' firstkey.
        var shared = Convert.FromHexString("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        var subkey = new byte[32];
        Salsa20.HSalsa20(shared, new byte[16], subkey);
        Assert.Equal(NaClKey, subkey);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void NaClStream3Vector(string implementation)
    {
        using var cipher = new XSalsa20Stream(NaClKey, NaClNonce, Parse(implementation));
        var keystream = new byte[32];
        cipher.Transform(keystream);
        Assert.Equal("eea6a7251c1e72916d11c2cb214d3c252539121d8e234e652d651fa4c8cff880", Convert.ToHexStringLower(keystream));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void NaClStreamVectorFourMegabytes(string implementation)
    {
        // NaCl tests/stream.c: SHA-256 of 4194304 keystream bytes under firstkey/nonce.
        using var cipher = new XSalsa20Stream(NaClKey, NaClNonce, Parse(implementation));
        var keystream = new byte[4194304];
        cipher.Transform(keystream);
        Assert.Equal("662b9d0e3463029156069b12f918691a98f7dfb2ca0393c96bbfc6b1fbd630a2", Convert.ToHexStringLower(SHA256.HashData(keystream)));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void PnetVectorFromDigest(string implementation)
    {
        // libp2p-wire.md §14.5: PSK 00..1f, nonce 40..57.
        using var cipher = new XSalsa20Stream(Sequence(0x00, 32), Sequence(0x40, 24), Parse(implementation));
        var keystream = new byte[32];
        cipher.Transform(keystream);
        Assert.Equal("f97f0c229fd953ef0080e833bd9cf90d25ad7f4489ddd636717f1a6bbc7daf99", Convert.ToHexStringLower(keystream));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void KeystreamContinuesAcrossCallsOfAnyLength(string implementation)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        var plain = RandomNumberGenerator.GetBytes(20000);
        var expected = new byte[plain.Length];
        using (var oneShot = new XSalsa20Stream(key, nonce, Parse(implementation)))
        {
            oneShot.Transform(plain, expected);
        }

        // Chunk sizes around block and SIMD-width boundaries, in a fixed pseudo-random order.
        int[] sizes = [1, 63, 64, 65, 0, 3, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 7, 4096, 33];
        var random = new Random(1234);
        using var cipher = new XSalsa20Stream(key, nonce, Parse(implementation));
        var actual = new byte[plain.Length];
        var offset = 0;
        while (offset < plain.Length)
        {
            var n = Math.Min(sizes[random.Next(sizes.Length)], plain.Length - offset);
            cipher.Transform(plain.AsSpan(offset, n), actual.AsSpan(offset, n));
            offset += n;
            Assert.Equal((ulong)offset, cipher.Position);
        }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ManagedMatchesLibsodiumForEveryLengthUpTo2100()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        var data = RandomNumberGenerator.GetBytes(2100);
        for (var length = 0; length <= data.Length; length += length < 200 ? 1 : 37)
        {
            using var managed = new XSalsa20Stream(key, nonce, XSalsa20Implementation.Managed);
            using var sodium = new XSalsa20Stream(key, nonce, XSalsa20Implementation.Sodium);
            var a = new byte[length];
            var b = new byte[length];
            managed.Transform(data.AsSpan(0, length), a);
            sodium.Transform(data.AsSpan(0, length), b);
            Assert.True(a.AsSpan().SequenceEqual(b), $"length {length}");
        }
    }

    [Theory]
    [InlineData(0xFFFFFFF0UL)] // the 32-bit low counter word wraps inside the SIMD batches
    [InlineData(0x1FFFFFFFBUL)]
    [InlineData(ulong.MaxValue - 40)]
    public void ManagedCounterCarryMatchesLibsodium(ulong counter)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce8 = RandomNumberGenerator.GetBytes(8);
        var state = new uint[16];
        Salsa20.InitState(state, key, nonce8);
        var managed = new byte[64 * 40];
        var sodium = new byte[64 * 40];
        Salsa20.XorBlocks(state, counter, managed, managed);
        Sodium.Salsa20XorIc(sodium, sodium, nonce8, counter, key);
        Assert.Equal(Convert.ToHexStringLower(sodium), Convert.ToHexStringLower(managed));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void InPlaceEqualsOutOfPlace(string implementation)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        var data = RandomNumberGenerator.GetBytes(5000);
        var copy = data.ToArray();
        var output = new byte[data.Length];
        using (var a = new XSalsa20Stream(key, nonce, Parse(implementation)))
        {
            a.Transform(data, output);
        }
        using (var b = new XSalsa20Stream(key, nonce, Parse(implementation)))
        {
            b.Transform(copy);
        }
        Assert.Equal(output, copy);
    }

    [Fact]
    public void RejectsBadKeyAndNonceSizes()
    {
        Assert.Equal("XSalsa20 key must be 32 bytes, got 31 (Parameter 'key')",
            Assert.Throws<ArgumentException>(() => new XSalsa20Stream(new byte[31], new byte[24])).Message);
        Assert.Equal("XSalsa20 nonce must be 24 bytes, got 8 (Parameter 'nonce')",
            Assert.Throws<ArgumentException>(() => new XSalsa20Stream(new byte[32], new byte[8])).Message);
    }

    private static XSalsa20Implementation Parse(string name) => Enum.Parse<XSalsa20Implementation>(name);

    internal static byte[] Sequence(int start, int count) => Enumerable.Range(start, count).Select(i => (byte)i).ToArray();
}
