using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Libp2p.Protocols.Identify;

/// <summary>The identify protobuf. Repeated fields append and scalars take the last value when messages are merged.</summary>
public sealed class IdentifyMessage
{
    public const string ProtocolId = "/ipfs/id/1.0.0";
    public const string PushProtocolId = "/ipfs/id/push/1.0.0";
    public const int MaxMessageSize = 8 * 1024;
    public const int MaxMessages = 10;

    public string? ProtocolVersion { get; set; }

    public string? AgentVersion { get; set; }

    public byte[]? PublicKey { get; set; }

    public List<Multiaddress> ListenAddrs { get; } = [];

    public Multiaddress? ObservedAddr { get; set; }

    public List<string> Protocols { get; } = [];

    public byte[]? SignedPeerRecord { get; set; }

    public byte[] Marshal()
    {
        var w = new ProtoWriter();
        if (PublicKey is not null)
        {
            w.Bytes(1, PublicKey);
        }
        foreach (var a in ListenAddrs)
        {
            w.Bytes(2, a.ToBytes());
        }
        foreach (var p in Protocols)
        {
            w.String(3, p);
        }
        if (ObservedAddr is not null)
        {
            w.Bytes(4, ObservedAddr.ToBytes());
        }
        if (ProtocolVersion is not null)
        {
            w.String(5, ProtocolVersion);
        }
        if (AgentVersion is not null)
        {
            w.String(6, AgentVersion);
        }
        if (SignedPeerRecord is not null)
        {
            w.Bytes(8, SignedPeerRecord);
        }
        return w.ToArray();
    }

    /// <summary>Merges one received message into this one. Unparseable addresses are skipped.</summary>
    /// <exception cref="FormatException">Malformed protobuf.</exception>
    public void MergeFrom(ReadOnlySpan<byte> data)
    {
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            if (f.WireType != 2)
            {
                continue;
            }
            switch (f.Number)
            {
                case 1:
                    PublicKey = f.Bytes.ToArray();
                    break;
                case 2:
                    if (Multiaddress.TryFromBytes(f.Bytes, out var la, out _))
                    {
                        ListenAddrs.Add(la);
                    }
                    break;
                case 3:
                    Protocols.Add(System.Text.Encoding.UTF8.GetString(f.Bytes));
                    break;
                case 4:
                    ObservedAddr = Multiaddress.TryFromBytes(f.Bytes, out var oa, out _) ? oa : null;
                    break;
                case 5:
                    ProtocolVersion = System.Text.Encoding.UTF8.GetString(f.Bytes);
                    break;
                case 6:
                    AgentVersion = System.Text.Encoding.UTF8.GetString(f.Bytes);
                    break;
                case 8:
                    SignedPeerRecord = f.Bytes.ToArray();
                    break;
            }
        }
    }
}
