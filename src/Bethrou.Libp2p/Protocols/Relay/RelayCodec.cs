using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>Outcome of <see cref="RelayCodec.TryReadHop"/> / <see cref="RelayCodec.TryReadStop"/>.</summary>
public enum RelayReadStatus
{
    /// <summary>One message was parsed and the buffer now starts after it.</summary>
    Ok,

    /// <summary>The buffer ends inside the length prefix or the message; nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>The length prefix announces more than <see cref="RelayProtocol.MaxMessageSize"/> bytes.</summary>
    Oversized,

    /// <summary>The length prefix is not a minimal varint or is too long.</summary>
    BadLengthPrefix,

    /// <summary>The protobuf is malformed or misses a required field (the error says which).</summary>
    Malformed,
}

/// <summary>
/// Delimited (uvarint length + protobuf) HopMessage/StopMessage codec, bounded by
/// <see cref="RelayProtocol.MaxMessageSize"/>. Reads never consume past the message: bytes after a STATUS already
/// belong to the relayed connection.
/// </summary>
public static class RelayCodec
{
    private delegate bool Parser<T>(ReadOnlySpan<byte> body, out T? message, out string? error);

    private delegate RelayReadStatus FrameReader<T>(ref ReadOnlySequence<byte> buffer, out T? message, out string? error);

    public static RelayReadStatus TryReadHop(ref ReadOnlySequence<byte> buffer, out HopMessage? message, out string? error) =>
        TryReadFrame(ref buffer, ParseHop, out message, out error);

    public static RelayReadStatus TryReadStop(ref ReadOnlySequence<byte> buffer, out StopMessage? message, out string? error) =>
        TryReadFrame(ref buffer, ParseStop, out message, out error);

    public static void Write(IBufferWriter<byte> writer, HopMessage message)
    {
        var w = new ProtoWriter().Varint(1, (ulong)message.Type);
        if (message.Peer is { } peer)
        {
            w.Bytes(2, EncodePeer(peer));
        }
        if (message.Reservation is { } r)
        {
            var rw = new ProtoWriter().Varint(1, r.Expire);
            foreach (var a in r.Addrs)
            {
                rw.Bytes(2, a.ToBytes());
            }
            if (r.Voucher is not null)
            {
                rw.Bytes(3, r.Voucher);
            }
            w.Bytes(3, rw.WrittenSpan);
        }
        if (message.Limit is { } limit)
        {
            w.Bytes(4, EncodeLimit(limit));
        }
        if (message.Status is { } status)
        {
            w.Varint(5, (ulong)status);
        }
        WriteFrame(writer, w.WrittenSpan, nameof(HopMessage));
    }

    public static void Write(IBufferWriter<byte> writer, StopMessage message)
    {
        var w = new ProtoWriter().Varint(1, (ulong)message.Type);
        if (message.Peer is { } peer)
        {
            w.Bytes(2, EncodePeer(peer));
        }
        if (message.Limit is { } limit)
        {
            w.Bytes(3, EncodeLimit(limit));
        }
        if (message.Status is { } status)
        {
            w.Varint(4, (ulong)status);
        }
        WriteFrame(writer, w.WrittenSpan, nameof(StopMessage));
    }

    /// <summary>Writes and flushes one HopMessage.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, HopMessage message, CancellationToken ct)
    {
        Write(writer, message);
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Writes and flushes one StopMessage.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, StopMessage message, CancellationToken ct)
    {
        Write(writer, message);
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads one HopMessage, leaving any following bytes in the reader.</summary>
    /// <exception cref="RelayException">Malformed or oversized message, or the stream ended first (status MALFORMED_MESSAGE).</exception>
    public static ValueTask<HopMessage> ReadHopAsync(PipeReader reader, CancellationToken ct) =>
        ReadAsync<HopMessage>(reader, TryReadHop, nameof(HopMessage), ct);

    /// <summary>Reads one StopMessage, leaving any following bytes in the reader.</summary>
    /// <exception cref="RelayException">Malformed or oversized message, or the stream ended first (status MALFORMED_MESSAGE).</exception>
    public static ValueTask<StopMessage> ReadStopAsync(PipeReader reader, CancellationToken ct) =>
        ReadAsync<StopMessage>(reader, TryReadStop, nameof(StopMessage), ct);

    private static async ValueTask<T> ReadAsync<T>(PipeReader reader, FrameReader<T> tryRead, string what, CancellationToken ct)
        where T : class
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = tryRead(ref buffer, out var message, out var error);
            if (status == RelayReadStatus.Ok)
            {
                // consumed == examined: bytes after the message are returned by the next read at once.
                reader.AdvanceTo(buffer.Start);
                return message!;
            }
            if (status != RelayReadStatus.NeedMoreData)
            {
                reader.AdvanceTo(result.Buffer.Start);
                throw new RelayException(RelayStatus.MalformedMessage, error!);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                var empty = result.Buffer.IsEmpty;
                reader.AdvanceTo(result.Buffer.End);
                throw new RelayException(RelayStatus.MalformedMessage,
                    empty ? $"the stream ended before a {what} arrived" : $"the stream ended inside a {what}");
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static void WriteFrame(IBufferWriter<byte> writer, ReadOnlySpan<byte> body, string what)
    {
        if (body.Length > RelayProtocol.MaxMessageSize)
        {
            throw new ArgumentException($"{what} of {body.Length} bytes exceeds the {RelayProtocol.MaxMessageSize}-byte limit");
        }
        Delimited.Write(writer, body);
    }

    private static RelayReadStatus TryReadFrame<T>(ref ReadOnlySequence<byte> buffer, Parser<T> parse, out T? message, out string? error)
    {
        message = default;
        error = null;
        switch (VarInt.TryRead(buffer, out var length, out var prefix))
        {
            case VarIntStatus.NeedMoreData:
                return RelayReadStatus.NeedMoreData;
            case VarIntStatus.NotMinimal:
                error = "relay message length prefix is not a minimal varint";
                return RelayReadStatus.BadLengthPrefix;
            case VarIntStatus.Overflow:
                error = "relay message length prefix is longer than 9 bytes";
                return RelayReadStatus.BadLengthPrefix;
        }
        if (length > RelayProtocol.MaxMessageSize)
        {
            error = $"relay message of {length} bytes exceeds the {RelayProtocol.MaxMessageSize}-byte limit";
            return RelayReadStatus.Oversized;
        }
        if (buffer.Length - prefix < (long)length)
        {
            return RelayReadStatus.NeedMoreData;
        }
        var frame = buffer.Slice(prefix, (long)length);
        Span<byte> body = stackalloc byte[(int)length];
        frame.CopyTo(body);
        bool ok;
        try
        {
            ok = parse(body, out message, out error);
        }
        catch (FormatException e)
        {
            ok = false;
            error = $"malformed {typeof(T).Name}: {e.Message}";
        }
        if (!ok)
        {
            message = default;
            return RelayReadStatus.Malformed;
        }
        buffer = buffer.Slice(frame.End);
        return RelayReadStatus.Ok;
    }

    private static bool ParseHop(ReadOnlySpan<byte> body, out HopMessage? message, out string? error)
    {
        message = null;
        HopMessageType? type = null;
        RelayPeer? peer = null;
        RelayReservation? reservation = null;
        RelayLimit? limit = null;
        RelayStatus? status = null;
        var r = new ProtoReader(body);
        while (r.TryReadField(out var f))
        {
            switch (f.Number)
            {
                case 1:
                    if (!Expect(f, 0, "HopMessage", "type", out error))
                    {
                        return false;
                    }
                    if (f.Varint > (ulong)HopMessageType.Status)
                    {
                        error = $"malformed HopMessage: unknown type {f.Varint}";
                        return false;
                    }
                    type = (HopMessageType)f.Varint;
                    break;
                case 2:
                    if (!Expect(f, 2, "HopMessage", "peer", out error) || !TryParsePeer(f.Bytes, "HopMessage", out peer, out error))
                    {
                        return false;
                    }
                    break;
                case 3:
                    if (!Expect(f, 2, "HopMessage", "reservation", out error) || !TryParseReservation(f.Bytes, out reservation, out error))
                    {
                        return false;
                    }
                    break;
                case 4:
                    if (!Expect(f, 2, "HopMessage", "limit", out error) || !TryParseLimit(f.Bytes, "HopMessage", out limit, out error))
                    {
                        return false;
                    }
                    break;
                case 5:
                    if (!Expect(f, 0, "HopMessage", "status", out error) || !TryParseStatus(f.Varint, "HopMessage", out status, out error))
                    {
                        return false;
                    }
                    break;
            }
        }
        if (type is null)
        {
            error = "malformed HopMessage: type is missing";
            return false;
        }
        message = new HopMessage(type.Value) { Peer = peer, Reservation = reservation, Limit = limit, Status = status };
        error = null;
        return true;
    }

    private static bool ParseStop(ReadOnlySpan<byte> body, out StopMessage? message, out string? error)
    {
        message = null;
        StopMessageType? type = null;
        RelayPeer? peer = null;
        RelayLimit? limit = null;
        RelayStatus? status = null;
        var r = new ProtoReader(body);
        while (r.TryReadField(out var f))
        {
            switch (f.Number)
            {
                case 1:
                    if (!Expect(f, 0, "StopMessage", "type", out error))
                    {
                        return false;
                    }
                    if (f.Varint > (ulong)StopMessageType.Status)
                    {
                        error = $"malformed StopMessage: unknown type {f.Varint}";
                        return false;
                    }
                    type = (StopMessageType)f.Varint;
                    break;
                case 2:
                    if (!Expect(f, 2, "StopMessage", "peer", out error) || !TryParsePeer(f.Bytes, "StopMessage", out peer, out error))
                    {
                        return false;
                    }
                    break;
                case 3:
                    if (!Expect(f, 2, "StopMessage", "limit", out error) || !TryParseLimit(f.Bytes, "StopMessage", out limit, out error))
                    {
                        return false;
                    }
                    break;
                case 4:
                    if (!Expect(f, 0, "StopMessage", "status", out error) || !TryParseStatus(f.Varint, "StopMessage", out status, out error))
                    {
                        return false;
                    }
                    break;
            }
        }
        if (type is null)
        {
            error = "malformed StopMessage: type is missing";
            return false;
        }
        message = new StopMessage(type.Value) { Peer = peer, Limit = limit, Status = status };
        error = null;
        return true;
    }

    private static bool Expect(in ProtoField f, int wireType, string message, string field, out string? error)
    {
        if (f.WireType == wireType)
        {
            error = null;
            return true;
        }
        error = $"malformed {message}: field {f.Number} ({field}) has wire type {f.WireType}, expected {wireType}";
        return false;
    }

    private static bool TryParsePeer(ReadOnlySpan<byte> data, string owner, out RelayPeer? peer, out string? error)
    {
        peer = null;
        PeerId? id = null;
        var addrs = new List<Multiaddress>();
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            if (f.Number == 1)
            {
                if (!Expect(f, 2, owner + ".peer", "id", out error))
                {
                    return false;
                }
                if (!PeerId.TryFromBytes(f.Bytes, out var pid, out var idError))
                {
                    error = $"malformed {owner}: peer id: {idError}";
                    return false;
                }
                id = pid;
            }
            else if (f.Number == 2)
            {
                if (!Expect(f, 2, owner + ".peer", "addrs", out error))
                {
                    return false;
                }
                // Addresses we cannot parse (transports we do not know) are skipped, not fatal.
                if (Multiaddress.TryFromBytes(f.Bytes, out var ma, out _))
                {
                    addrs.Add(ma);
                }
            }
        }
        if (id is null)
        {
            error = $"malformed {owner}: peer has no id";
            return false;
        }
        peer = new RelayPeer(id, addrs);
        error = null;
        return true;
    }

    private static bool TryParseReservation(ReadOnlySpan<byte> data, out RelayReservation? reservation, out string? error)
    {
        reservation = null;
        ulong expire = 0;
        byte[]? voucher = null;
        var addrs = new List<Multiaddress>();
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            switch (f.Number)
            {
                case 1:
                    if (!Expect(f, 0, "HopMessage.reservation", "expire", out error))
                    {
                        return false;
                    }
                    expire = f.Varint;
                    break;
                case 2:
                    if (!Expect(f, 2, "HopMessage.reservation", "addrs", out error))
                    {
                        return false;
                    }
                    if (Multiaddress.TryFromBytes(f.Bytes, out var ma, out _))
                    {
                        addrs.Add(ma);
                    }
                    break;
                case 3:
                    if (!Expect(f, 2, "HopMessage.reservation", "voucher", out error))
                    {
                        return false;
                    }
                    voucher = f.Bytes.ToArray();
                    break;
            }
        }
        reservation = new RelayReservation(expire, addrs, voucher);
        error = null;
        return true;
    }

    private static bool TryParseLimit(ReadOnlySpan<byte> data, string owner, out RelayLimit? limit, out string? error)
    {
        limit = null;
        uint duration = 0;
        ulong bytes = 0;
        var r = new ProtoReader(data);
        while (r.TryReadField(out var f))
        {
            if (f.Number == 1)
            {
                if (!Expect(f, 0, owner + ".limit", "duration", out error))
                {
                    return false;
                }
                if (f.Varint > uint.MaxValue)
                {
                    error = $"malformed {owner}: limit duration {f.Varint} does not fit in uint32";
                    return false;
                }
                duration = (uint)f.Varint;
            }
            else if (f.Number == 2)
            {
                if (!Expect(f, 0, owner + ".limit", "data", out error))
                {
                    return false;
                }
                bytes = f.Varint;
            }
        }
        limit = new RelayLimit(duration, bytes);
        error = null;
        return true;
    }

    private static bool TryParseStatus(ulong value, string owner, out RelayStatus? status, out string? error)
    {
        status = null;
        if (value > int.MaxValue || !Enum.IsDefined((RelayStatus)(int)value))
        {
            error = $"malformed {owner}: unknown status {value}";
            return false;
        }
        status = (RelayStatus)(int)value;
        error = null;
        return true;
    }

    private static byte[] EncodePeer(RelayPeer peer)
    {
        var w = new ProtoWriter().Bytes(1, peer.Id.Bytes.Span);
        foreach (var a in peer.Addrs)
        {
            w.Bytes(2, a.ToBytes());
        }
        return w.ToArray();
    }

    private static byte[] EncodeLimit(RelayLimit limit)
    {
        var w = new ProtoWriter();
        if (limit.Duration != 0)
        {
            w.Varint(1, limit.Duration);
        }
        if (limit.Data != 0)
        {
            w.Varint(2, limit.Data);
        }
        return w.ToArray();
    }
}
