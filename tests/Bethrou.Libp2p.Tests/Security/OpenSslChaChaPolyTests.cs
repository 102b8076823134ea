using System.Security.Cryptography;
using System.Text;
using Bethrou.Libp2p.Security.Noise;

namespace Bethrou.Libp2p.Tests.Security;

public class OpenSslChaChaPolyTests
{
    // RFC 8439 §2.8.2
    private static readonly byte[] RfcKey = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    private static readonly byte[] RfcNonce = Convert.FromHexString("070000004041424344454647");
    private static readonly byte[] RfcAad = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
    private static readonly byte[] RfcPlaintext = Encoding.ASCII.GetBytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    private static readonly byte[] RfcCiphertext = Convert.FromHexString(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
        "3ff4def08e4b7a9de576d26586cec64b6116");
    private static readonly byte[] RfcTag = Convert.FromHexString("1ae10b594f09e26a7e902ecbd0600691");

    [Fact]
    public void OpenSslIsAvailableOnThisPlatform()
    {
        // The Linux machines this project targets have libcrypto 3 (the BCL itself uses it); if this fails the
        // transport silently runs its slower fallback, which the benchmark figures would not show.
        Assert.Equal(OperatingSystem.IsLinux(), OpenSslChaChaPoly.IsSupported);
    }

    [Fact]
    public void Rfc8439VectorPieceByPiece()
    {
        using var aead = new OpenSslChaChaPoly(RfcKey);
        for (var cut = 0; cut <= RfcPlaintext.Length; cut++)
        {
            var ct = new byte[RfcPlaintext.Length];
            var tag = new byte[16];
            aead.Begin(RfcNonce, encrypt: true, RfcAad);
            aead.Update(RfcPlaintext.AsSpan(0, cut), ct.AsSpan(0, cut));
            aead.Update(RfcPlaintext.AsSpan(cut), ct.AsSpan(cut));
            aead.FinishEncrypt(tag);
            Assert.Equal(RfcCiphertext, ct);
            Assert.Equal(RfcTag, tag);

            var pt = new byte[ct.Length];
            aead.Begin(RfcNonce, encrypt: false, RfcAad);
            aead.Update(ct.AsSpan(0, ct.Length - cut), pt.AsSpan(0, ct.Length - cut));
            aead.Update(ct.AsSpan(ct.Length - cut), pt.AsSpan(ct.Length - cut));
            Assert.True(aead.FinishDecrypt(tag));
            Assert.Equal(RfcPlaintext, pt);
        }
    }

    [Theory]
    [InlineData(LibCrypto.MaxUpdate - 1)]
    [InlineData(LibCrypto.MaxUpdate)]
    [InlineData(LibCrypto.MaxUpdate + 1)]
    [InlineData(3 * LibCrypto.MaxUpdate + 17)]
    [InlineData(65519)]
    public void OneUpdateLongerThanOpenSslIsGivenAtOnceSealsAndOpensAsTheBcl(int length)
    {
        // An update longer than LibCrypto.MaxUpdate reaches OpenSSL in pieces: same ciphertext and tag as the BCL's
        // one-shot, in place and out of place, and it opens again in one update.
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var ad = RandomNumberGenerator.GetBytes(5);
        var plaintext = RandomNumberGenerator.GetBytes(length);
        using var bcl = new ChaCha20Poly1305(key);
        var expected = new byte[length];
        var expectedTag = new byte[16];
        bcl.Encrypt(nonce, plaintext, expected, expectedTag, ad);
        using var aead = new OpenSslChaChaPoly(key);
        foreach (var inPlace in new[] { true, false })
        {
            var output = inPlace ? (byte[])plaintext.Clone() : new byte[length];
            var tag = new byte[16];
            aead.Begin(nonce, encrypt: true, ad);
            aead.Update(inPlace ? output : plaintext, output);
            aead.FinishEncrypt(tag);
            Assert.Equal(expected, output);
            Assert.Equal(expectedTag, tag);

            aead.Begin(nonce, encrypt: false, ad);
            aead.Update(output, output);
            Assert.True(aead.FinishDecrypt(tag));
            Assert.Equal(plaintext, output);
        }
    }

    [Fact]
    public void MatchesTheBclOnRandomPiecesInPlaceAndOutOfPlace()
    {
        var rng = new Random(7);
        var key = RandomNumberGenerator.GetBytes(32);
        using var bcl = new ChaCha20Poly1305(key);
        using var aead = new OpenSslChaChaPoly(key);
        for (var round = 0; round < 200; round++)
        {
            var nonce = RandomNumberGenerator.GetBytes(12);
            var plaintext = RandomNumberGenerator.GetBytes(rng.Next(0, 70_000));
            var expected = new byte[plaintext.Length];
            var expectedTag = new byte[16];
            bcl.Encrypt(nonce, plaintext, expected, expectedTag);

            var inPlace = round % 2 == 0;
            var output = inPlace ? (byte[])plaintext.Clone() : new byte[plaintext.Length];
            var source = inPlace ? output : plaintext;
            var tag = new byte[16];
            aead.Begin(nonce, encrypt: true, default);
            for (var o = 0; o < source.Length;)
            {
                var n = Math.Min(source.Length - o, rng.Next(1, 20_000));
                aead.Update(source.AsSpan(o, n), output.AsSpan(o, n));
                o += n;
            }
            aead.FinishEncrypt(tag);
            Assert.Equal(expected, output);
            Assert.Equal(expectedTag, tag);
        }
    }

    [Fact]
    public void AWrongTagOrAChangedByteFailsAndTheContextStaysUsable()
    {
        using var aead = new OpenSslChaChaPoly(RfcKey);
        var pt = new byte[RfcCiphertext.Length];
        var badTag = (byte[])RfcTag.Clone();
        badTag[15] ^= 1;
        aead.Begin(RfcNonce, encrypt: false, RfcAad);
        aead.Update(RfcCiphertext, pt);
        Assert.False(aead.FinishDecrypt(badTag));

        var badCt = (byte[])RfcCiphertext.Clone();
        badCt[40] ^= 0x80;
        aead.Begin(RfcNonce, encrypt: false, RfcAad);
        aead.Update(badCt, pt);
        Assert.False(aead.FinishDecrypt(RfcTag));

        aead.Begin(RfcNonce, encrypt: false, RfcAad);
        aead.Update(RfcCiphertext, pt);
        Assert.True(aead.FinishDecrypt(RfcTag));
        Assert.Equal(RfcPlaintext, pt);
    }

    [Fact]
    public void CipherStateRefusesPiecesOutsideAMessage()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        using var state = new NoiseCipherState(key);
        var ex = Assert.Throws<InvalidOperationException>(() => state.Update(new byte[4], new byte[4]));
        Assert.Equal("noise: no message was begun", ex.Message);
        state.BeginMessage(encrypt: true);
        var nested = Assert.Throws<InvalidOperationException>(() => state.BeginMessage(encrypt: true));
        Assert.Equal("noise: a message is still being processed piece by piece", nested.Message);
        state.Update(new byte[4], new byte[4]);
        state.EndEncrypt(new byte[16]);
        Assert.Equal(1UL, state.Nonce);
        using var fallback = new NoiseCipherState(key, allowIncremental: false);
        Assert.False(fallback.IsIncremental);
        Assert.Throws<InvalidOperationException>(() => fallback.BeginMessage(encrypt: false));
    }
}

public class ChaChaPolyVerifierTests
{
    [Fact]
    public void VerifiesThenDecryptsLikeTheBclForAnyLengthAndSegmentation()
    {
        var rng = new Random(11);
        var key = RandomNumberGenerator.GetBytes(32);
        using var bcl = new ChaCha20Poly1305(key);
        using var verifier = new ChaChaPolyVerifier(key);
        foreach (var length in new[] { 0, 1, 15, 16, 17, 63, 64, 65, 1000, 65519 })
        {
            var nonce = RandomNumberGenerator.GetBytes(12);
            var plaintext = RandomNumberGenerator.GetBytes(length);
            var ciphertext = new byte[length];
            var tag = new byte[16];
            bcl.Encrypt(nonce, plaintext, ciphertext, tag);

            var cuts = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => rng.Next(1, Math.Max(2, length))).Where(c => c < length).Distinct().Order().ToArray();
            var sequence = Multistream.SequenceSplitter.Split(ciphertext, cuts);
            Assert.True(verifier.Verify(sequence, tag, nonce), $"length {length}");
            var opened = new byte[length];
            for (var o = 0; o < length;)
            {
                var n = Math.Min(length - o, rng.Next(1, 5000));
                verifier.Decrypt(ciphertext.AsSpan(o, n), opened.AsSpan(o, n));
                o += n;
            }
            verifier.End();
            Assert.Equal(plaintext, opened);

            var badTag = (byte[])tag.Clone();
            badTag[rng.Next(16)] ^= 4;
            Assert.False(verifier.Verify(sequence, badTag, nonce));
            Assert.Throws<InvalidOperationException>(() => verifier.Decrypt(ciphertext, opened));
            if (length > 0)
            {
                var changed = (byte[])ciphertext.Clone();
                changed[rng.Next(length)] ^= 0x10;
                Assert.False(verifier.Verify(new System.Buffers.ReadOnlySequence<byte>(changed), tag, nonce));
            }
        }
    }
}
