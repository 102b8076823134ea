using System.Buffers;

namespace Bethrou.Libp2p.Multiformats;

/// <summary>Multiformats unsigned varint (LEB128, at most 9 bytes, minimal encoding required).</summary>
public static class VarInt
{
    public const int MaxLength = 9;

    public static int GetLength(ulong value)
    {
        var n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }
        return n;
    }

    public static int Write(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    public static void Write(IBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(MaxLength);
        writer.Advance(Write(span, value));
    }

    public static byte[] Encode(ulong value)
    {
        var buffer = new byte[GetLength(value)];
        Write(buffer, value);
        return buffer;
    }

    /// <summary>Reads a varint from a span.</summary>
    /// <returns><see cref="VarIntStatus.Ok"/> with the value and consumed length, <see cref="VarIntStatus.NeedMoreData"/>
    /// when the span ends inside the varint, or an error status.</returns>
    public static VarIntStatus TryRead(ReadOnlySpan<byte> source, out ulong value, out int consumed)
    {
        value = 0;
        consumed = 0;
        var shift = 0;
        for (var i = 0; i < source.Length; i++)
        {
            if (i >= MaxLength)
            {
                return VarIntStatus.Overflow;
            }
            var b = source[i];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    value = 0;
                    return VarIntStatus.NotMinimal;
                }
                consumed = i + 1;
                return VarIntStatus.Ok;
            }
            shift += 7;
        }
        return source.Length >= MaxLength ? VarIntStatus.Overflow : VarIntStatus.NeedMoreData;
    }

    /// <summary>Reads a varint from a sequence without consuming it.</summary>
    public static VarIntStatus TryRead(in ReadOnlySequence<byte> source, out ulong value, out int consumed)
    {
        if (source.IsSingleSegment || source.FirstSpan.Length >= MaxLength)
        {
            return TryRead(source.FirstSpan, out value, out consumed);
        }
        Span<byte> tmp = stackalloc byte[MaxLength];
        var len = (int)Math.Min(MaxLength, source.Length);
        source.Slice(0, len).CopyTo(tmp);
        return TryRead(tmp[..len], out value, out consumed);
    }

    /// <summary>Reads a complete varint from a span or throws <see cref="FormatException"/>.</summary>
    public static ulong Read(ReadOnlySpan<byte> source, out int consumed)
    {
        var status = TryRead(source, out var value, out consumed);
        return status switch
        {
            VarIntStatus.Ok => value,
            VarIntStatus.NeedMoreData => throw new FormatException("truncated varint"),
            VarIntStatus.NotMinimal => throw new FormatException("varint is not minimally encoded"),
            _ => throw new FormatException("varint longer than 9 bytes"),
        };
    }
}

public enum VarIntStatus
{
    Ok,
    NeedMoreData,
    NotMinimal,
    Overflow,
}
