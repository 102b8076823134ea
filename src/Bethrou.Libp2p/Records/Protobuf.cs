using System.Buffers;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Records;

/// <summary>Tiny protobuf writer/reader for the small libp2p messages (presence is explicit: we write what we are given).</summary>
public sealed class ProtoWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64);

    public ProtoWriter Varint(int field, ulong value)
    {
        VarInt.Write(_buffer, (ulong)(field << 3));
        VarInt.Write(_buffer, value);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        VarInt.Write(_buffer, (ulong)((field << 3) | 2));
        VarInt.Write(_buffer, (ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(value));

    public ProtoWriter Fixed64(int field, ulong value)
    {
        VarInt.Write(_buffer, (ulong)((field << 3) | 1));
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;
}

/// <summary>One field read by <see cref="ProtoReader"/>.</summary>
public readonly ref struct ProtoField
{
    public ProtoField(int number, int wireType, ulong varint, ReadOnlySpan<byte> bytes)
    {
        Number = number;
        WireType = wireType;
        Varint = varint;
        Bytes = bytes;
    }

    public int Number { get; }

    public int WireType { get; }

    public ulong Varint { get; }

    public ReadOnlySpan<byte> Bytes { get; }
}

/// <summary>Forward-only protobuf field reader; unknown fields are skipped by the caller simply by ignoring them.</summary>
public ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _offset;

    public ProtoReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _offset = 0;
    }

    /// <exception cref="FormatException">Malformed protobuf.</exception>
    public bool TryReadField(out ProtoField field)
    {
        field = default;
        if (_offset >= _data.Length)
        {
            return false;
        }
        var tag = VarInt.Read(_data[_offset..], out var n);
        _offset += n;
        var number = (int)(tag >> 3);
        var wire = (int)(tag & 7);
        if (number == 0)
        {
            throw new FormatException("protobuf field number 0");
        }
        switch (wire)
        {
            case 0:
                var v = VarInt.Read(_data[_offset..], out n);
                _offset += n;
                field = new ProtoField(number, wire, v, default);
                return true;
            case 1:
                Need(8);
                field = new ProtoField(number, wire, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_data.Slice(_offset, 8)), _data.Slice(_offset, 8));
                _offset += 8;
                return true;
            case 2:
                var len = VarInt.Read(_data[_offset..], out n);
                _offset += n;
                if (len > (ulong)(_data.Length - _offset))
                {
                    throw new FormatException($"protobuf field {number} length {len} exceeds the message");
                }
                field = new ProtoField(number, wire, len, _data.Slice(_offset, (int)len));
                _offset += (int)len;
                return true;
            case 5:
                Need(4);
                field = new ProtoField(number, wire, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data.Slice(_offset, 4)), _data.Slice(_offset, 4));
                _offset += 4;
                return true;
            default:
                throw new FormatException($"unsupported protobuf wire type {wire} in field {number}");
        }
    }

    private readonly void Need(int n)
    {
        if (_data.Length - _offset < n)
        {
            throw new FormatException("truncated protobuf field");
        }
    }
}
