using System.Buffers;
using System.Text;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Multistream;

/// <summary>Result of <see cref="MultistreamMessage.TryRead"/>.</summary>
internal enum MultistreamReadStatus
{
    Ok,
    NeedMoreData,
    LengthNotMinimal,
    TooLong,
    Empty,
    MissingNewline,
    InvalidUtf8,
}

/// <summary>One multistream-select message: <c>uvarint(len(msg) + 1) || UTF-8 msg || '\n'</c>, the length
/// counting the newline and at most <see cref="MaxLength"/> (go ErrTooLarge, js maxDataLength).</summary>
internal static class MultistreamMessage
{
    /// <summary>Largest accepted length prefix (message bytes plus the newline).</summary>
    public const int MaxLength = 1024;

    /// <summary>Longest protocol id we write (the newline takes the last byte).</summary>
    public const int MaxProtocolIdBytes = MaxLength - 1;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses one message from the front of <paramref name="buffer"/>. On <see cref="MultistreamReadStatus.Ok"/>
    /// <paramref name="buffer"/> is advanced past the message (the rest stays for the caller) and
    /// <paramref name="message"/> is the text without its newline; otherwise <paramref name="buffer"/> is unchanged.
    /// <paramref name="length"/> is the declared length when known, else -1.</summary>
    public static MultistreamReadStatus TryRead(ref ReadOnlySequence<byte> buffer, out string message, out int length)
    {
        message = string.Empty;
        length = -1;
        var status = VarInt.TryRead(buffer, out var declared, out var prefix);
        switch (status)
        {
            case VarIntStatus.NeedMoreData:
                // Two bytes that both continue mean at least 2^14: too long whatever follows (js: maxLengthLength 2).
                return buffer.Length >= 2 ? MultistreamReadStatus.TooLong : MultistreamReadStatus.NeedMoreData;
            case VarIntStatus.NotMinimal:
                return MultistreamReadStatus.LengthNotMinimal;
            case VarIntStatus.Overflow:
                return MultistreamReadStatus.TooLong;
        }
        if (declared > MaxLength)
        {
            length = declared > int.MaxValue ? int.MaxValue : (int)declared;
            return MultistreamReadStatus.TooLong;
        }
        length = (int)declared;
        if (length == 0)
        {
            return MultistreamReadStatus.Empty;
        }
        if (buffer.Length - prefix < length)
        {
            return MultistreamReadStatus.NeedMoreData;
        }
        var payload = buffer.Slice(prefix, length);
        Span<byte> bytes = stackalloc byte[length];
        payload.CopyTo(bytes);
        if (bytes[^1] != (byte)'\n')
        {
            return MultistreamReadStatus.MissingNewline;
        }
        if (length == 1)
        {
            return MultistreamReadStatus.Empty;
        }
        try
        {
            message = StrictUtf8.GetString(bytes[..^1]);
        }
        catch (DecoderFallbackException)
        {
            return MultistreamReadStatus.InvalidUtf8;
        }
        buffer = buffer.Slice(payload.End);
        return MultistreamReadStatus.Ok;
    }

    /// <summary>What is wrong, for an error status (no "multistream: " prefix).</summary>
    public static string Describe(MultistreamReadStatus status, int length) => status switch
    {
        MultistreamReadStatus.LengthNotMinimal => "message length varint is not minimally encoded",
        MultistreamReadStatus.TooLong when length > 0 => $"message length {length} exceeds the maximum of {MaxLength} bytes",
        MultistreamReadStatus.TooLong => $"message length exceeds the maximum of {MaxLength} bytes (length varint longer than 2 bytes)",
        MultistreamReadStatus.Empty when length == 0 => "empty message (length 0, no newline)",
        MultistreamReadStatus.Empty => "empty message (only a newline)",
        MultistreamReadStatus.MissingNewline => $"message of {length} bytes does not end with a newline",
        MultistreamReadStatus.InvalidUtf8 => "message is not valid UTF-8",
        _ => status.ToString(),
    };

    /// <summary>Writes one message.</summary>
    /// <exception cref="ArgumentException">Empty, or longer than <see cref="MaxProtocolIdBytes"/> UTF-8 bytes.</exception>
    public static void Write(IBufferWriter<byte> writer, string message)
    {
        var byteCount = GetValidatedByteCount(message);
        VarInt.Write(writer, (ulong)(byteCount + 1));
        var span = writer.GetSpan(byteCount + 1);
        var written = Encoding.UTF8.GetBytes(message, span);
        span[written] = (byte)'\n';
        writer.Advance(written + 1);
    }

    /// <summary>The js <c>ls</c> answer: one message whose body is each protocol as its own framed message
    /// (<c>uvarint(len + 1) || id || '\n'</c>), then the message's own newline. Protocols that would push the
    /// message over <see cref="MaxLength"/> are left out.</summary>
    public static void WriteList(IBufferWriter<byte> writer, IEnumerable<string> protocols)
    {
        var body = new ArrayBufferWriter<byte>(256);
        foreach (var protocol in protocols)
        {
            var byteCount = GetValidatedByteCount(protocol);
            var framed = VarInt.GetLength((ulong)(byteCount + 1)) + byteCount + 1;
            if (body.WrittenCount + framed + 1 > MaxLength)
            {
                break;
            }
            Write(body, protocol);
        }
        VarInt.Write(writer, (ulong)(body.WrittenCount + 1));
        writer.Write(body.WrittenSpan);
        writer.Write("\n"u8);
    }

    /// <summary>The encoded bytes of one message.</summary>
    public static byte[] Encode(string message)
    {
        var writer = new ArrayBufferWriter<byte>();
        Write(writer, message);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>For error messages: the remote's text with control characters replaced and at most 64 characters.</summary>
    public static string Sanitize(string text)
    {
        const int Max = 64;
        var sb = new StringBuilder(Math.Min(text.Length, Max) + 3);
        foreach (var c in text.Length > Max ? text.AsSpan(0, Max) : text.AsSpan())
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }
        if (text.Length > Max)
        {
            sb.Append("...");
        }
        return sb.ToString();
    }

    private static int GetValidatedByteCount(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Length == 0)
        {
            throw new ArgumentException("a multistream message cannot be empty", nameof(message));
        }
        var byteCount = Encoding.UTF8.GetByteCount(message);
        if (byteCount > MaxProtocolIdBytes)
        {
            throw new ArgumentException($"a multistream message is at most {MaxProtocolIdBytes} UTF-8 bytes, got {byteCount}", nameof(message));
        }
        return byteCount;
    }
}
