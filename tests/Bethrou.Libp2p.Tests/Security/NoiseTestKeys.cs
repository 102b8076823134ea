using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Security.Noise;
using Microsoft.Extensions.Logging.Abstractions;
using NSec.Cryptography;

namespace Bethrou.Libp2p.Tests.Security;

/// <summary>Keys of the wire digest's §14.6 vector (the X25519 keys are cacophony's).</summary>
internal static class NoiseTestKeys
{
    public const string Yamux = "/yamux/1.0.0";

    public static readonly byte[] InitStatic = Convert.FromHexString("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1");
    public static readonly byte[] InitEphemeral = Convert.FromHexString("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a");
    public static readonly byte[] RespStatic = Convert.FromHexString("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893");
    public static readonly byte[] RespEphemeral = Convert.FromHexString("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b");

    /// <summary>ID1: the spec's Ed25519 key.</summary>
    public static Ed25519PrivateKey Id1() => Ed25519PrivateKey.FromSeed(Convert.FromHexString("7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"));

    /// <summary>ID2: Ed25519 seed 00..1f.</summary>
    public static Ed25519PrivateKey Id2()
    {
        var seed = new byte[32];
        for (var i = 0; i < 32; i++)
        {
            seed[i] = (byte)i;
        }
        return Ed25519PrivateKey.FromSeed(seed);
    }

    public static Key X25519(byte[] privateKey) => NoiseSecurityTransport.ImportX25519Key(privateKey);

    /// <summary>A transport whose static key and (every) ephemeral key are fixed.</summary>
    public static NoiseSecurityTransport Fixed(Ed25519PrivateKey identity, byte[] staticKey, byte[] ephemeralKey, params string[] muxers) =>
        new(identity, muxers, NullLogger.Instance, X25519(staticKey), () => X25519(ephemeralKey));

    public static NoiseSecurityTransport VectorInitiator(params string[] muxers) => Fixed(Id1(), InitStatic, InitEphemeral, muxers);

    public static NoiseSecurityTransport VectorResponder(params string[] muxers) => Fixed(Id2(), RespStatic, RespEphemeral, muxers);

    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c))));
}
