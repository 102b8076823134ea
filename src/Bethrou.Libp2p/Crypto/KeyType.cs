namespace Bethrou.Libp2p.Crypto;

/// <summary>libp2p crypto.pb KeyType.</summary>
public enum KeyType
{
    Rsa = 0,
    Ed25519 = 1,
    Secp256k1 = 2,
    Ecdsa = 3,
}
