using System.Buffers;
using System.Text;
using Bethrou.Libp2p.Security.Noise;

namespace Bethrou.Libp2p.Tests.Security;

public class NoiseVectorTests
{
    // libp2p-wire.md §14.6
    private const string PayloadR = "0a240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
        + "12409d81d9e24c1aeb8f65ddb0c0cc4c5bfd1e69339343da323fe9bf8e0501539a9d41081f7481ce6a24a071af825dacccdcae9d78763b528a84cc298ce591447c05"
        + "220e120c2f79616d75782f312e302e30";
    private const string PayloadI = "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
        + "1240e292a4b36dcd264cb7933551567462bf4b6bdc79bcc37af23ea723110cf8cfde08000f9e95441ba4fd4b82844305554004fc4be681ce33c277510b6332588c09"
        + "220e120c2f79616d75782f312e302e30";
    private const string M1 = "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944";
    private const string M2 = "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9"
        + "0b20f024c6abdc05d618c61c13a3fe07127982eb5ca72a4df397da83fbc1ccd330987bb8762322b474114190c6c4b865a7a8e726f7d7c92b581b8c8bf578184b"
        + "c82688ed79129ad1e8a314f8a6931a17984cef747b6d4fae42b8c36d0e21635374117bdda2cc57c323af8ab3649a404a55cb4116048b20b9503974a5cae505fe"
        + "7ff65e88cf556e27addbb44cac4bea87ea92000a7cc0bfb1";
    private const string M3 = "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a8142e01c2a7f073b7c7c7d47f2afb69e614c3d6e0e8ecd41217ddfdf0afb41507"
        + "a1be308a2142c5bd7aa4533305677b3e694b63076f9d2df0fe4d73b419771080a6cf96b373850176596856cd9886b5ccf7b92fd0b13c9d40153da17beeda35f1"
        + "631e57da5fabbc42aaeea8ff1a68839842fe9190823c6eb044e1b00c760b0081d2628ff15e062ef3720f392c1b8495f74acef01106b2cd4d";
    private const string HandshakeHash = "4daeda882a66a1535d77255846c209291e6aab4485c53c1d3cf406d010000b1b";
    private const string K1 = "3062fff068d0abd171b4b4603c5b7633bf5ee4e79da311370c2eba7f1ed6c69a";
    private const string K2 = "cbabb3f5e4529fc0e93efda9b4b70169270c04b05c5be25f71e9c55f7955c86a";
    private const string HelloFrame = "0015" + "1c40fc5d2d6a1c8becb87e6ca04de167d47d072e50";

    [Fact]
    public void Libp2pPayloadsMatchVector()
    {
        var initiator = NoiseTestKeys.VectorInitiator(NoiseTestKeys.Yamux);
        var responder = NoiseTestKeys.VectorResponder(NoiseTestKeys.Yamux);
        Assert.Equal(PayloadI, Convert.ToHexStringLower(initiator.LocalPayload));
        Assert.Equal(PayloadR, Convert.ToHexStringLower(responder.LocalPayload));
        Assert.Equal(120, responder.LocalPayload.Length);
    }

    [Fact]
    public void Libp2pPayloadWithoutMuxersLacksTheExtension()
    {
        var responder = NoiseTestKeys.VectorResponder();
        Assert.Equal(104, responder.LocalPayload.Length);
        Assert.Equal(PayloadR[..(104 * 2)], Convert.ToHexStringLower(responder.LocalPayload));
    }

    [Fact]
    public void Libp2pHandshakeStateMatchesVector()
    {
        using var i = new NoiseXXHandshake(true, NoiseTestKeys.X25519(NoiseTestKeys.InitStatic), NoiseTestKeys.X25519(NoiseTestKeys.InitEphemeral), default);
        using var r = new NoiseXXHandshake(false, NoiseTestKeys.X25519(NoiseTestKeys.RespStatic), NoiseTestKeys.X25519(NoiseTestKeys.RespEphemeral), default);

        var m1 = i.WriteMessage(default);
        Assert.Equal(M1, Convert.ToHexStringLower(m1));
        Assert.Null(r.ReadMessage(m1, out var p1));
        Assert.Empty(p1);

        var m2 = r.WriteMessage(Convert.FromHexString(PayloadR));
        Assert.Equal(M2, Convert.ToHexStringLower(m2));
        Assert.Null(i.ReadMessage(m2, out var p2));
        Assert.Equal(PayloadR, Convert.ToHexStringLower(p2));
        Assert.Equal("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62", Convert.ToHexStringLower(i.RemoteStatic!));

        var m3 = i.WriteMessage(Convert.FromHexString(PayloadI));
        Assert.Equal(M3, Convert.ToHexStringLower(m3));
        Assert.Null(r.ReadMessage(m3, out var p3));
        Assert.Equal(PayloadI, Convert.ToHexStringLower(p3));
        Assert.Equal("6bc3822a2aa7f4e6981d6538692b3cdf3e6df9eea6ed269eb41d93c22757b75a", Convert.ToHexStringLower(r.RemoteStatic!));

        Assert.Equal(HandshakeHash, Convert.ToHexStringLower(i.HandshakeHash));
        Assert.Equal(HandshakeHash, Convert.ToHexStringLower(r.HandshakeHash));
        var (k1, k2) = i.SplitKeysForTest();
        Assert.Equal(K1, Convert.ToHexStringLower(k1));
        Assert.Equal(K2, Convert.ToHexStringLower(k2));

        var (send, _) = i.Split();
        using (send)
        {
            var hello = "hello"u8;
            var frame = new byte[2 + hello.Length + 16];
            frame[1] = (byte)(hello.Length + 16);
            send.Encrypt(default, hello, frame.AsSpan(2, hello.Length), frame.AsSpan(2 + hello.Length));
            Assert.Equal(HelloFrame, Convert.ToHexStringLower(frame));
        }
    }

    [Fact]
    public async Task Libp2pVectorOnTheWire()
    {
        var initiator = NoiseTestKeys.VectorInitiator(NoiseTestKeys.Yamux);
        var responder = NoiseTestKeys.VectorResponder(NoiseTestKeys.Yamux);
        var tap = new TappedLink();

        var outbound = initiator.SecureOutboundAsync(tap.Initiator, NoiseTestKeys.Id2().PeerId, CancellationToken.None).AsTask();
        var inbound = responder.SecureInboundAsync(tap.Responder, CancellationToken.None).AsTask();
        var ic = await outbound;
        var rc = await inbound;

        Assert.Equal("12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB", ic.RemotePeer.ToString());
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", rc.RemotePeer.ToString());
        Assert.Equal(ic.LocalPeer, rc.RemotePeer);
        Assert.Equal(NoiseTestKeys.Yamux, ic.EarlyMuxer);
        Assert.Equal(NoiseTestKeys.Yamux, rc.EarlyMuxer);
        Assert.Equal(NoiseTestKeys.Id1().PublicKey, rc.RemotePublicKey);

        await ic.Transport.Output.WriteAsync("hello"u8.ToArray());
        var read = await rc.Transport.Input.ReadAtLeastAsync(5);
        Assert.Equal("hello", Encoding.ASCII.GetString(read.Buffer.ToArray()));
        rc.Transport.Input.AdvanceTo(read.Buffer.End);

        var i2r = tap.InitiatorToResponder();
        Assert.Equal("0020" + M1 + "00b8" + M3 + HelloFrame, Convert.ToHexStringLower(i2r));
        Assert.Equal("00d8" + M2, Convert.ToHexStringLower(tap.ResponderToInitiator()));
    }

    [Fact]
    public void CacophonyXXVector()
    {
        // haskell-cryptography/cacophony vectors/cacophony.txt, protocol_name Noise_XX_25519_ChaChaPoly_SHA256
        var prologue = Convert.FromHexString("4a6f686e2047616c74");
        (string Payload, string Ciphertext)[] messages =
        [
            ("4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"),
            ("4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9326ad"),
            ("462e20412e20486179656b", "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"),
            ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
            ("4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"),
            ("457567656e2042f6686d20766f6e2042617765726b", "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"),
        ];
        using var i = new NoiseXXHandshake(true, NoiseTestKeys.X25519(NoiseTestKeys.InitStatic), NoiseTestKeys.X25519(NoiseTestKeys.InitEphemeral), prologue);
        using var r = new NoiseXXHandshake(false, NoiseTestKeys.X25519(NoiseTestKeys.RespStatic), NoiseTestKeys.X25519(NoiseTestKeys.RespEphemeral), prologue);
        for (var n = 0; n < 3; n++)
        {
            var (writer, reader) = n % 2 == 0 ? (i, r) : (r, i);
            var ct = writer.WriteMessage(Convert.FromHexString(messages[n].Payload));
            Assert.Equal(messages[n].Ciphertext, Convert.ToHexStringLower(ct));
            Assert.Null(reader.ReadMessage(ct, out var pt));
            Assert.Equal(messages[n].Payload, Convert.ToHexStringLower(pt));
        }
        Assert.Equal("c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e", Convert.ToHexStringLower(i.HandshakeHash));
        Assert.Equal("c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e", Convert.ToHexStringLower(r.HandshakeHash));

        var (iSend, iRecv) = i.Split();
        var (rRecv, rSend) = r.Split();
        using (iSend)
        using (iRecv)
        using (rRecv)
        using (rSend)
        {
            // transport messages keep alternating: message 3 is the responder's
            for (var n = 3; n < messages.Length; n++)
            {
                var (send, recv) = n % 2 == 0 ? (iSend, rRecv) : (rSend, iRecv);
                var pt = Convert.FromHexString(messages[n].Payload);
                var ct = new byte[pt.Length + 16];
                send.Encrypt(default, pt, ct, ct.AsSpan(pt.Length));
                Assert.Equal(messages[n].Ciphertext, Convert.ToHexStringLower(ct));
                var back = new byte[pt.Length];
                Assert.True(recv.TryDecrypt(default, ct.AsSpan(0, pt.Length), ct.AsSpan(pt.Length), back));
                Assert.Equal(pt, back);
            }
        }
    }
}
