using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Libp2p.Protocols.Dcutr;

/// <summary>HolePunch.Type (proto2 <c>required</c>: always written).</summary>
public enum HolePunchType
{
    Connect = 100,
    Sync = 300,
}

/// <summary>DCUtR's <c>HolePunch { type, ObsAddrs }</c>; addresses the codec cannot parse are skipped.</summary>
public sealed record HolePunchMessage(HolePunchType Type, IReadOnlyList<Multiaddress> ObsAddrs)
{
    public static HolePunchMessage Sync { get; } = new(HolePunchType.Sync, []);
}

/// <summary>Outcome of <see cref="HolePunchCodec.TryRead"/>.</summary>
public enum HolePunchReadStatus
{
    Ok,
    NeedMoreData,
    Oversized,
    BadLengthPrefix,
    Malformed,
}

/// <summary>Delimited HolePunch codec (max 4 KiB); reads never consume past the message.</summary>
public static class HolePunchCodec
{
    public const string ProtocolId = "/libp2p/dcutr";
    public const int MaxMessageSize = 4096;

    public static void Write(IBufferWriter<byte> writer, HolePunchMessage message)
    {
        var w = new ProtoWriter().Varint(1, (ulong)message.Type);
        foreach (var a in message.ObsAddrs)
        {
            w.Bytes(2, a.ToBytes());
        }
        if (w.WrittenSpan.Length > MaxMessageSize)
        {
            throw new ArgumentException($"HolePunch of {w.WrittenSpan.Length} bytes exceeds the {MaxMessageSize}-byte limit", nameof(message));
        }
        Delimited.Write(writer, w.WrittenSpan);
    }

    public static HolePunchReadStatus TryRead(ref ReadOnlySequence<byte> buffer, out HolePunchMessage? message, out string? error)
    {
        message = null;
        error = null;
        switch (VarInt.TryRead(buffer, out var length, out var prefix))
        {
            case VarIntStatus.NeedMoreData:
                return HolePunchReadStatus.NeedMoreData;
            case VarIntStatus.NotMinimal:
                error = "HolePunch length prefix is not a minimal varint";
                return HolePunchReadStatus.BadLengthPrefix;
            case VarIntStatus.Overflow:
                error = "HolePunch length prefix is longer than 9 bytes";
                return HolePunchReadStatus.BadLengthPrefix;
        }
        if (length > MaxMessageSize)
        {
            error = $"HolePunch of {length} bytes exceeds the {MaxMessageSize}-byte limit";
            return HolePunchReadStatus.Oversized;
        }
        if (buffer.Length - prefix < (long)length)
        {
            return HolePunchReadStatus.NeedMoreData;
        }
        var frame = buffer.Slice(prefix, (long)length);
        Span<byte> body = stackalloc byte[(int)length];
        frame.CopyTo(body);
        try
        {
            if (!TryParse(body, out message, out error))
            {
                return HolePunchReadStatus.Malformed;
            }
        }
        catch (FormatException e)
        {
            error = "malformed HolePunch: " + e.Message;
            message = null;
            return HolePunchReadStatus.Malformed;
        }
        buffer = buffer.Slice(frame.End);
        return HolePunchReadStatus.Ok;
    }

    private static bool TryParse(ReadOnlySpan<byte> body, out HolePunchMessage? message, out string? error)
    {
        message = null;
        HolePunchType? type = null;
        var addrs = new List<Multiaddress>();
        var r = new ProtoReader(body);
        while (r.TryReadField(out var f))
        {
            if (f.Number == 1)
            {
                if (f.WireType != 0)
                {
                    error = $"malformed HolePunch: field 1 (type) has wire type {f.WireType}, expected 0";
                    return false;
                }
                if (f.Varint is not ((ulong)HolePunchType.Connect or (ulong)HolePunchType.Sync))
                {
                    error = $"malformed HolePunch: unknown type {f.Varint}";
                    return false;
                }
                type = (HolePunchType)f.Varint;
            }
            else if (f.Number == 2)
            {
                if (f.WireType != 2)
                {
                    error = $"malformed HolePunch: field 2 (ObsAddrs) has wire type {f.WireType}, expected 2";
                    return false;
                }
                if (Multiaddress.TryFromBytes(f.Bytes, out var ma, out _))
                {
                    addrs.Add(ma);
                }
            }
        }
        if (type is null)
        {
            error = "malformed HolePunch: type is missing";
            return false;
        }
        message = new HolePunchMessage(type.Value, addrs);
        error = null;
        return true;
    }

    public static async ValueTask WriteAsync(PipeWriter writer, HolePunchMessage message, CancellationToken ct)
    {
        Write(writer, message);
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads one message, leaving following bytes in the reader.</summary>
    /// <exception cref="InvalidDataException">Malformed, oversized, or the stream ended first.</exception>
    public static async ValueTask<HolePunchMessage> ReadAsync(PipeReader reader, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = TryRead(ref buffer, out var message, out var error);
            if (status == HolePunchReadStatus.Ok)
            {
                reader.AdvanceTo(buffer.Start);
                return message!;
            }
            if (status != HolePunchReadStatus.NeedMoreData)
            {
                reader.AdvanceTo(result.Buffer.Start);
                throw new InvalidDataException(error);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                var empty = result.Buffer.IsEmpty;
                reader.AdvanceTo(result.Buffer.End);
                throw new InvalidDataException(empty ? "the stream ended before a HolePunch message arrived" : "the stream ended inside a HolePunch message");
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
