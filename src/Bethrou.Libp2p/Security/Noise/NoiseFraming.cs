using System.Buffers;
using System.Buffers.Binary;

namespace Bethrou.Libp2p.Security.Noise;

internal enum NoiseFrameStatus
{
    /// <summary>A whole frame was read.</summary>
    Ok,

    /// <summary>The buffer ends inside the length prefix or the body: wait for more bytes.</summary>
    NeedMoreData,

    /// <summary>The declared length exceeds the caller's maximum.</summary>
    TooLarge,
}

/// <summary>Noise framing: <c>u16 big-endian length || message</c>, length ≤ 65535.</summary>
internal static class NoiseFraming
{
    public const int LengthPrefixSize = 2;
    public const int MaxMessageLength = 65535;
    public const int MaxPlaintextLength = MaxMessageLength - NoiseCipherState.TagSize; // 65519

    /// <summary>Reads one frame. On <see cref="NoiseFrameStatus.Ok"/>, <paramref name="message"/> is the body and
    /// <paramref name="buffer"/> is advanced past the frame; otherwise <paramref name="buffer"/> is unchanged.
    /// <paramref name="declaredLength"/> is the length prefix whenever two bytes were available (else -1).</summary>
    public static NoiseFrameStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> message, out int declaredLength)
    {
        message = default;
        declaredLength = -1;
        if (buffer.Length < LengthPrefixSize)
        {
            return NoiseFrameStatus.NeedMoreData;
        }
        var first = buffer.FirstSpan;
        int len;
        if (first.Length >= LengthPrefixSize)
        {
            len = BinaryPrimitives.ReadUInt16BigEndian(first);
        }
        else
        {
            Span<byte> prefix = stackalloc byte[LengthPrefixSize];
            buffer.Slice(0, LengthPrefixSize).CopyTo(prefix);
            len = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        }
        declaredLength = len;
        if (len > maxLength)
        {
            return NoiseFrameStatus.TooLarge;
        }
        if (buffer.Length - LengthPrefixSize < len)
        {
            return NoiseFrameStatus.NeedMoreData;
        }
        message = buffer.Slice(LengthPrefixSize, len);
        buffer = buffer.Slice(message.End);
        return NoiseFrameStatus.Ok;
    }

    /// <summary>Writes <c>u16 BE length || message</c>.</summary>
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> message)
    {
        if (message.Length > MaxMessageLength)
        {
            throw new ArgumentOutOfRangeException(nameof(message), message.Length, $"noise: a message is at most {MaxMessageLength} bytes");
        }
        var span = writer.GetSpan(LengthPrefixSize + message.Length);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)message.Length);
        message.CopyTo(span[LengthPrefixSize..]);
        writer.Advance(LengthPrefixSize + message.Length);
    }
}
