using System.Buffers;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Records;

/// <summary>A libp2p signed envelope (RFC 0002): public key, payload type, payload, signature over a domain-separated buffer.</summary>
public sealed class SignedEnvelope
{
    public const string PeerRecordDomain = "libp2p-peer-record";
    public static readonly byte[] PeerRecordPayloadType = [0x03, 0x01];
    public const string RelayVoucherDomain = "libp2p-relay-rsvp";
    public static readonly byte[] RelayVoucherPayloadType = [0x03, 0x02];

    private SignedEnvelope(PublicKey key, byte[] payloadType, byte[] payload, byte[] signature)
    {
        PublicKey = key;
        PayloadType = payloadType;
        Payload = payload;
        Signature = signature;
    }

    public PublicKey PublicKey { get; }

    public byte[] PayloadType { get; }

    public byte[] Payload { get; }

    public byte[] Signature { get; }

    public PeerId Signer => PublicKey.ToPeerId();

    public static SignedEnvelope Seal(Ed25519PrivateKey key, string domain, byte[] payloadType, byte[] payload)
    {
        var sig = key.Sign(SignedBuffer(domain, payloadType, payload));
        return new SignedEnvelope(key.PublicKey, payloadType, payload, sig);
    }

    public byte[] Marshal() => new ProtoWriter()
        .Bytes(1, PublicKey.Marshal())
        .Bytes(2, PayloadType)
        .Bytes(3, Payload)
        .Bytes(5, Signature)
        .ToArray();

    /// <summary>Decodes and verifies an envelope for the expected domain and payload type.</summary>
    /// <exception cref="FormatException">Malformed, wrong type, or bad signature (message says which).</exception>
    public static SignedEnvelope OpenAndVerify(ReadOnlySpan<byte> data, string domain, ReadOnlySpan<byte> expectedPayloadType)
    {
        PublicKey? key = null;
        byte[]? type = null;
        byte[]? payload = null;
        byte[]? sig = null;
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            switch (f.Number)
            {
                case 1 when f.WireType == 2:
                    key = PublicKey.Unmarshal(f.Bytes);
                    break;
                case 2 when f.WireType == 2:
                    type = f.Bytes.ToArray();
                    break;
                case 3 when f.WireType == 2:
                    payload = f.Bytes.ToArray();
                    break;
                case 5 when f.WireType == 2:
                    sig = f.Bytes.ToArray();
                    break;
            }
        }
        if (key is null || type is null || payload is null || sig is null)
        {
            throw new FormatException("signed envelope is missing its key, payload type, payload or signature");
        }
        if (!type.AsSpan().SequenceEqual(expectedPayloadType))
        {
            throw new FormatException($"signed envelope payload type {Convert.ToHexString(type)} is not the expected {Convert.ToHexString(expectedPayloadType)}");
        }
        if (!key.Verify(SignedBuffer(domain, type, payload), sig))
        {
            throw new FormatException("signed envelope signature does not verify");
        }
        return new SignedEnvelope(key, type, payload, sig);
    }

    private static byte[] SignedBuffer(string domain, ReadOnlySpan<byte> type, ReadOnlySpan<byte> payload)
    {
        var d = System.Text.Encoding.UTF8.GetBytes(domain);
        var w = new System.Buffers.ArrayBufferWriter<byte>();
        VarInt.Write(w, (ulong)d.Length);
        w.Write(d);
        VarInt.Write(w, (ulong)type.Length);
        w.Write(type);
        VarInt.Write(w, (ulong)payload.Length);
        w.Write(payload);
        return w.WrittenSpan.ToArray();
    }
}

/// <summary>A libp2p PeerRecord: peer id, sequence number, addresses (without /p2p).</summary>
public sealed record PeerRecord(PeerId PeerId, ulong Seq, IReadOnlyList<Multiaddress> Addresses)
{
    public byte[] Marshal()
    {
        var w = new ProtoWriter().Bytes(1, PeerId.Bytes.Span).Varint(2, Seq);
        foreach (var a in Addresses)
        {
            w.Bytes(3, new ProtoWriter().Bytes(1, a.ToBytes()).WrittenSpan);
        }
        return w.ToArray();
    }

    public static PeerRecord Unmarshal(ReadOnlySpan<byte> data)
    {
        PeerId? id = null;
        ulong seq = 0;
        var addrs = new List<Multiaddress>();
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            if (f.Number == 1 && f.WireType == 2)
            {
                id = PeerId.FromBytes(f.Bytes);
            }
            else if (f.Number == 2 && f.WireType == 0)
            {
                seq = f.Varint;
            }
            else if (f.Number == 3 && f.WireType == 2)
            {
                var inner = new ProtoReader(f.Bytes);
                while (inner.TryReadField(out var g))
                {
                    if (g.Number == 1 && g.WireType == 2 && Multiaddress.TryFromBytes(g.Bytes, out var ma, out _))
                    {
                        addrs.Add(ma);
                    }
                }
            }
        }
        return new PeerRecord(id ?? throw new FormatException("peer record has no peer id"), seq, addrs);
    }

    public SignedEnvelope Seal(Ed25519PrivateKey key) =>
        SignedEnvelope.Seal(key, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType, Marshal());

    /// <summary>Verifies an envelope holding a peer record and checks the signer is the record's peer.</summary>
    public static PeerRecord OpenSigned(ReadOnlySpan<byte> envelope)
    {
        var env = SignedEnvelope.OpenAndVerify(envelope, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType);
        var rec = Unmarshal(env.Payload);
        if (rec.PeerId != env.Signer)
        {
            throw new FormatException($"peer record for {rec.PeerId} is signed by {env.Signer}");
        }
        return rec;
    }
}
