using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Crypto;

/// <summary>Encoder/decoder for crypto.pb PublicKey/PrivateKey messages (both share the same shape).</summary>
internal static class KeyProtobuf
{
    public static byte[] Encode(KeyType type, ReadOnlySpan<byte> data)
    {
        var len = 1 + VarInt.GetLength((ulong)type) + 1 + VarInt.GetLength((ulong)data.Length) + data.Length;
        var buf = new byte[len];
        var o = 0;
        buf[o++] = 0x08;
        o += VarInt.Write(buf.AsSpan(o), (ulong)type);
        buf[o++] = 0x12;
        o += VarInt.Write(buf.AsSpan(o), (ulong)data.Length);
        data.CopyTo(buf.AsSpan(o));
        return buf;
    }

    public static (KeyType Type, byte[] Data) Decode(ReadOnlySpan<byte> pb)
    {
        KeyType? type = null;
        byte[]? data = null;
        var o = 0;
        while (o < pb.Length)
        {
            var tag = VarInt.Read(pb[o..], out var n);
            o += n;
            var field = tag >> 3;
            var wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    var v = VarInt.Read(pb[o..], out n);
                    o += n;
                    if (field == 1)
                    {
                        if (v > 3)
                        {
                            throw new FormatException($"unknown key type {v}");
                        }
                        type = (KeyType)v;
                    }
                    break;
                case 2:
                    var l = VarInt.Read(pb[o..], out n);
                    o += n;
                    if (l > (ulong)(pb.Length - o))
                    {
                        throw new FormatException("key protobuf field length exceeds the message");
                    }
                    if (field == 2)
                    {
                        data = pb.Slice(o, (int)l).ToArray();
                    }
                    o += (int)l;
                    break;
                case 1:
                    o += 8;
                    break;
                case 5:
                    o += 4;
                    break;
                default:
                    throw new FormatException($"unsupported protobuf wire type {wire}");
            }
            if (o > pb.Length)
            {
                throw new FormatException("truncated key protobuf");
            }
        }
        if (type is null)
        {
            throw new FormatException("key protobuf has no Type field");
        }
        if (data is null)
        {
            throw new FormatException("key protobuf has no Data field");
        }
        return (type.Value, data);
    }
}
