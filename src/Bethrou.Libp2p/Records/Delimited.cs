using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Records;

/// <summary>uvarint-length-prefixed messages ("delimited" protobufs) over a pipe.</summary>
public static class Delimited
{
    /// <summary>Reads one message; null at a clean EOF before any byte. Never reads past the message.</summary>
    /// <exception cref="InvalidDataException">Oversized, malformed length, or EOF inside a message.</exception>
    public static async ValueTask<byte[]?> ReadAsync(PipeReader reader, int maxSize, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = VarInt.TryRead(buffer, out var len, out var n);
            if (status == VarIntStatus.Ok)
            {
                if (len > (ulong)maxSize)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new InvalidDataException($"message of {len} bytes exceeds the {maxSize}-byte limit");
                }
                if (buffer.Length - n >= (long)len)
                {
                    var msg = buffer.Slice(n, (long)len).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(n + (long)len));
                    return msg;
                }
            }
            else if (status != VarIntStatus.NeedMoreData)
            {
                reader.AdvanceTo(buffer.Start);
                throw new InvalidDataException($"bad message length prefix ({status})");
            }
            if (result.IsCompleted)
            {
                var empty = buffer.IsEmpty;
                reader.AdvanceTo(buffer.End);
                if (empty)
                {
                    return null;
                }
                throw new InvalidDataException("stream ended inside a length-prefixed message");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> message)
    {
        VarInt.Write(writer, (ulong)message.Length);
        writer.Write(message);
    }

    public static async ValueTask WriteAsync(PipeWriter writer, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        Write(writer, message.Span);
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }
}
