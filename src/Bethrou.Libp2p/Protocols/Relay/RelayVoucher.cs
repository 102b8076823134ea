using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>
/// A reservation voucher: <c>Voucher { relay=1, peer=2, expiration=3 }</c> (PeerId multihashes, unix seconds),
/// carried in a signed envelope (domain <c>libp2p-relay-rsvp</c>, payload type 0x0302) signed by the relay.
/// </summary>
public sealed record RelayVoucher(PeerId Relay, PeerId Peer, ulong Expiration)
{
    /// <summary>The payload, fields written in order and all present.</summary>
    public byte[] Marshal() => new ProtoWriter()
        .Bytes(1, Relay.Bytes.Span)
        .Bytes(2, Peer.Bytes.Span)
        .Varint(3, Expiration)
        .ToArray();

    /// <exception cref="FormatException">Malformed payload or a missing field.</exception>
    public static RelayVoucher Unmarshal(ReadOnlySpan<byte> payload)
    {
        PeerId? relay = null;
        PeerId? peer = null;
        ulong? expiration = null;
        var r = new ProtoReader(payload);
        while (r.TryReadField(out var f))
        {
            switch (f.Number)
            {
                case 1 when f.WireType == 2:
                    relay = PeerId.FromBytes(f.Bytes);
                    break;
                case 2 when f.WireType == 2:
                    peer = PeerId.FromBytes(f.Bytes);
                    break;
                case 3 when f.WireType == 0:
                    expiration = f.Varint;
                    break;
            }
        }
        if (relay is null || peer is null || expiration is null)
        {
            throw new FormatException("relay voucher is missing its relay, peer or expiration");
        }
        return new RelayVoucher(relay, peer, expiration.Value);
    }

    /// <summary>The marshalled signed envelope, signed with the relay's identity.</summary>
    public byte[] Seal(Ed25519PrivateKey relayKey)
    {
        if (relayKey.PeerId != Relay)
        {
            throw new ArgumentException($"a voucher for relay {Relay} cannot be signed by {relayKey.PeerId}", nameof(relayKey));
        }
        return SignedEnvelope.Seal(relayKey, SignedEnvelope.RelayVoucherDomain, SignedEnvelope.RelayVoucherPayloadType, Marshal()).Marshal();
    }

    /// <summary>Verifies the envelope (domain, type, signature) and that its signer is the voucher's relay.</summary>
    /// <exception cref="FormatException">Malformed, wrongly typed, badly signed, or signed by another peer.</exception>
    public static RelayVoucher OpenSigned(ReadOnlySpan<byte> envelope)
    {
        var env = SignedEnvelope.OpenAndVerify(envelope, SignedEnvelope.RelayVoucherDomain, SignedEnvelope.RelayVoucherPayloadType);
        var voucher = Unmarshal(env.Payload);
        if (voucher.Relay != env.Signer)
        {
            throw new FormatException($"relay voucher for relay {voucher.Relay} is signed by {env.Signer}");
        }
        return voucher;
    }
}
