using Bethrou.Libp2p.Transport;
using System.Buffers;
using System.Buffers.Binary;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Yamux frame types (header byte 1).</summary>
internal enum YamuxFrameType : byte
{
    Data = 0,
    WindowUpdate = 1,
    Ping = 2,
    GoAway = 3,
}

/// <summary>Yamux header flags (header bytes 2-3).</summary>
[Flags]
internal enum YamuxFlags : ushort
{
    None = 0,
    Syn = 0x1,
    Ack = 0x2,
    Fin = 0x4,
    Rst = 0x8,
}

/// <summary>GoAway error codes (the <c>length</c> field of a GoAway frame).</summary>
internal enum YamuxGoAwayCode : uint
{
    Normal = 0,
    ProtocolError = 1,
    InternalError = 2,
}

/// <summary>Outcome of <see cref="YamuxFrame.TryRead"/>.</summary>
internal enum YamuxReadStatus
{
    /// <summary>A header was parsed and the 12 bytes were consumed.</summary>
    Ok,
    /// <summary>Fewer than 12 bytes are buffered; nothing was consumed.</summary>
    NeedMoreData,
    /// <summary>Version byte is not 0.</summary>
    BadVersion,
    /// <summary>Type byte is above 3.</summary>
    BadType,
    /// <summary>Ping or GoAway on a non-zero stream id.</summary>
    SessionFrameOnStream,
    /// <summary>Data or WindowUpdate on stream 0.</summary>
    StreamFrameOnSession,
    /// <summary>A Data frame longer than the largest window this side can ever grant.</summary>
    DataTooLarge,
}

/// <summary>A decoded 12-byte yamux header. <see cref="Version"/> and <see cref="RawType"/> keep the wire values
/// so an error can name them.</summary>
internal readonly record struct YamuxHeader(byte Version, byte RawType, YamuxFlags Flags, uint StreamId, uint Length)
{
    public YamuxHeader(YamuxFrameType type, YamuxFlags flags, uint streamId, uint length)
        : this(0, (byte)type, flags, streamId, length)
    {
    }

    public YamuxFrameType Type => (YamuxFrameType)RawType;
}

/// <summary>Codec for the 12-byte big-endian yamux header:
/// <c>version u8 | type u8 | flags u16 | streamID u32 | length u32</c>.</summary>
internal static class YamuxFrame
{
    public const int HeaderLength = 12;

    /// <summary>Parses one header. On <see cref="YamuxReadStatus.Ok"/> the 12 header bytes are sliced off
    /// <paramref name="buffer"/> (a Data payload stays in it); on any other status nothing is consumed.
    /// <paramref name="header"/> holds the raw fields for every status except <see cref="YamuxReadStatus.NeedMoreData"/>.</summary>
    /// <param name="maxDataLength">Largest Data payload accepted (the largest receive window ever granted).</param>
    public static YamuxReadStatus TryRead(ref ReadOnlySequence<byte> buffer, uint maxDataLength, out YamuxHeader header)
    {
        var first = buffer.FirstSpan;
        if (first.Length >= HeaderLength)
        {
            header = Decode(first);
        }
        else if (buffer.Length < HeaderLength)
        {
            header = default;
            return YamuxReadStatus.NeedMoreData;
        }
        else
        {
            Span<byte> copy = stackalloc byte[HeaderLength];
            buffer.Slice(0, HeaderLength).CopyTo(copy);
            header = Decode(copy);
        }

        var status = Validate(header, maxDataLength);
        if (status == YamuxReadStatus.Ok)
        {
            buffer = buffer.Slice(HeaderLength);
        }
        return status;
    }

    /// <summary>Decodes 12 bytes without validation.</summary>
    public static YamuxHeader Decode(ReadOnlySpan<byte> span) => new(
        span[0],
        span[1],
        (YamuxFlags)BinaryPrimitives.ReadUInt16BigEndian(span[2..]),
        BinaryPrimitives.ReadUInt32BigEndian(span[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(span[8..]));

    /// <summary>Checks the structural rules of a header (not the stream-state rules, which need the session).</summary>
    public static YamuxReadStatus Validate(in YamuxHeader header, uint maxDataLength)
    {
        if (header.Version != 0)
        {
            return YamuxReadStatus.BadVersion;
        }
        if (header.RawType > (byte)YamuxFrameType.GoAway)
        {
            return YamuxReadStatus.BadType;
        }
        var sessionType = header.Type is YamuxFrameType.Ping or YamuxFrameType.GoAway;
        if (sessionType && header.StreamId != 0)
        {
            return YamuxReadStatus.SessionFrameOnStream;
        }
        if (!sessionType && header.StreamId == 0)
        {
            return YamuxReadStatus.StreamFrameOnSession;
        }
        if (header.Type == YamuxFrameType.Data && header.Length > maxDataLength)
        {
            return YamuxReadStatus.DataTooLarge;
        }
        return YamuxReadStatus.Ok;
    }

    /// <summary>The exact error text for a failed <see cref="TryRead"/>.</summary>
    public static string DescribeError(YamuxReadStatus status, in YamuxHeader header, uint maxDataLength) => status switch
    {
        YamuxReadStatus.BadVersion => $"yamux: unsupported protocol version {header.Version} (expected 0)",
        YamuxReadStatus.BadType => $"yamux: invalid frame type {header.RawType}",
        YamuxReadStatus.SessionFrameOnStream => $"yamux: {header.Type} frame on stream {header.StreamId} (only allowed on stream 0)",
        YamuxReadStatus.StreamFrameOnSession => $"yamux: {header.Type} frame on stream 0 (only Ping and GoAway are allowed there)",
        YamuxReadStatus.DataTooLarge => $"yamux: Data frame of {header.Length} bytes on stream {header.StreamId} exceeds the largest receive window {maxDataLength}",
        YamuxReadStatus.NeedMoreData => "yamux: incomplete frame header",
        _ => "yamux: no error",
    };

    /// <summary>Writes a 12-byte header into <paramref name="destination"/>.</summary>
    public static void Write(Span<byte> destination, in YamuxHeader header)
    {
        if (destination.Length < HeaderLength)
        {
            throw new ArgumentException("A yamux header needs 12 bytes.", nameof(destination));
        }
        destination[0] = header.Version;
        destination[1] = header.RawType;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)header.Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], header.StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], header.Length);
    }

    /// <summary>Writes a 12-byte header (no payload) to <paramref name="writer"/>.</summary>
    public static void Write(IBufferWriter<byte> writer, in YamuxHeader header)
    {
        var span = writer.GetSpan(HeaderLength);
        Write(span, header);
        writer.Advance(HeaderLength);
    }

    /// <summary>Writes a Data header followed by <paramref name="payload"/>.</summary>
    public static void WriteData(IBufferWriter<byte> writer, uint streamId, YamuxFlags flags, in ReadOnlySequence<byte> payload)
    {
        Write(writer, new YamuxHeader(YamuxFrameType.Data, flags, streamId, checked((uint)payload.Length)));
        if (writer is IWriteFrom direct)
        {
            // Noise encrypts the payload straight out of the stream's buffer.
            foreach (var segment in payload)
            {
                direct.WriteFrom(segment.Span);
            }
            return;
        }
        foreach (var segment in payload)
        {
            writer.Write(segment.Span);
        }
    }
}
