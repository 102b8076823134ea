using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <summary>A hand-played yamux peer: raw header bytes in, raw frames out.</summary>
internal sealed class RawYamuxPeer(IDuplexPipe pipe)
{
    public IDuplexPipe Pipe { get; } = pipe;

    public async Task WriteAsync(YamuxHeader header, byte[]? payload = null)
    {
        var bytes = new byte[YamuxFrame.HeaderLength];
        YamuxFrame.Write(bytes, header);
        await Pipe.Output.WriteAsync(bytes);
        if (payload is { Length: > 0 })
        {
            await Pipe.Output.WriteAsync(payload);
        }
    }

    public Task WriteAsync(YamuxFrameType type, YamuxFlags flags, uint streamId, uint length, byte[]? payload = null)
        => WriteAsync(new YamuxHeader(type, flags, streamId, length), payload);

    public async Task WriteRawAsync(string hex) => await Pipe.Output.WriteAsync(Convert.FromHexString(hex));

    /// <summary>Next frame; Data payloads are read in full. Null at EOF.</summary>
    public async Task<(YamuxHeader Header, byte[] Payload)?> ReadFrameAsync(CancellationToken ct)
    {
        var input = Pipe.Input;
        while (true)
        {
            var result = await input.ReadAsync(ct);
            var buffer = result.Buffer;
            if (buffer.Length >= YamuxFrame.HeaderLength)
            {
                var headerBytes = buffer.Slice(0, YamuxFrame.HeaderLength).ToArray();
                var header = YamuxFrame.Decode(headerBytes);
                long payloadLength = header.Type == YamuxFrameType.Data ? header.Length : 0;
                if (buffer.Length >= YamuxFrame.HeaderLength + payloadLength)
                {
                    var payload = buffer.Slice(YamuxFrame.HeaderLength, payloadLength).ToArray();
                    input.AdvanceTo(buffer.GetPosition(YamuxFrame.HeaderLength + payloadLength));
                    return (header, payload);
                }
            }
            if (result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                return null;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Reads frames until one matches; returns it (fails at EOF).</summary>
    public async Task<(YamuxHeader Header, byte[] Payload)> ReadUntilAsync(Func<YamuxHeader, bool> match, CancellationToken ct, List<(YamuxHeader, byte[])>? skipped = null)
    {
        while (true)
        {
            var frame = await ReadFrameAsync(ct) ?? throw new EndOfStreamException("raw peer: EOF before the expected frame");
            if (match(frame.Header))
            {
                return frame;
            }
            skipped?.Add(frame);
        }
    }

    /// <summary>True when the peer reaches EOF (skipping frames).</summary>
    public async Task<List<(YamuxHeader Header, byte[] Payload)>> ReadToEndAsync(CancellationToken ct)
    {
        var frames = new List<(YamuxHeader, byte[])>();
        while (await ReadFrameAsync(ct) is { } frame)
        {
            frames.Add(frame);
        }
        return frames;
    }

    /// <summary>Round trip through the session: everything it wrote before answering this ping was read.</summary>
    public async Task<List<(YamuxHeader Header, byte[] Payload)>> SyncAsync(uint pingId, CancellationToken ct)
    {
        await WriteAsync(YamuxFrameType.Ping, YamuxFlags.Syn, 0, pingId);
        var skipped = new List<(YamuxHeader, byte[])>();
        await ReadUntilAsync(h => h.Type == YamuxFrameType.Ping && h.Flags == YamuxFlags.Ack && h.Length == pingId, ct, skipped);
        return skipped;
    }
}

internal static class YamuxTest
{
    public static CancellationToken Timeout(int seconds = 60) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    public static Task WhenClosed(YamuxSession session, CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Closed.Register(() => done.TrySetResult());
        return done.Task.WaitAsync(ct);
    }

    public static YamuxOptions NoKeepAlive(Action<YamuxOptions>? configure = null)
    {
        var options = new YamuxOptions { EnableKeepAlive = false };
        configure?.Invoke(options);
        return options;
    }

    public static (YamuxSession Client, YamuxSession Server) Pair(YamuxOptions? client = null, YamuxOptions? server = null, TimeProvider? time = null)
    {
        var (a, b) = DuplexPipe.CreatePair();
        var c = new YamuxSession(a, isClient: true, client ?? new YamuxOptions(), NullLogger.Instance, time ?? TimeProvider.System);
        var s = new YamuxSession(b, isClient: false, server ?? new YamuxOptions(), NullLogger.Instance, time ?? TimeProvider.System);
        c.Start();
        s.Start();
        return (c, s);
    }

    /// <summary>A session under test plus a raw peer on the other end of the pipe.</summary>
    public static (YamuxSession Session, RawYamuxPeer Peer) WithRawPeer(bool sessionIsClient, YamuxOptions? options = null, TimeProvider? time = null, PipeOptions? sessionToPeer = null)
    {
        var (a, b) = DuplexPipe.CreatePair(sessionToPeer);
        var session = new YamuxSession(a, sessionIsClient, options ?? NoKeepAlive(), NullLogger.Instance, time ?? TimeProvider.System);
        session.Start();
        return (session, new RawYamuxPeer(b));
    }

    public static async Task<byte[]> ReadAllAsync(PipeReader reader, CancellationToken ct)
    {
        var output = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            foreach (var segment in result.Buffer)
            {
                output.Write(segment.Span);
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return output.WrittenSpan.ToArray();
            }
        }
    }

    public static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            if (result.Buffer.Length >= count)
            {
                var bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"wanted {count} bytes, stream ended after {result.Buffer.Length}");
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Deterministic test pattern: byte at absolute offset i of stream s.</summary>
    public static byte Pattern(long offset, int seed) => (byte)((offset * 2654435761L >> 13) ^ (offset >> 20) ^ seed);

    public static void FillPattern(Span<byte> span, long offset, int seed)
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = Pattern(offset + i, seed);
        }
    }

    public static async Task WritePatternAsync(PipeWriter writer, long total, int seed, int chunk, CancellationToken ct)
    {
        long offset = 0;
        while (offset < total)
        {
            var n = (int)Math.Min(chunk, total - offset);
            var memory = writer.GetMemory(n);
            FillPattern(memory.Span[..n], offset, seed);
            writer.Advance(n);
            offset += n;
            await writer.FlushAsync(ct);
        }
    }

    /// <summary>Reads to the end, checking every byte against the pattern; returns the byte count.</summary>
    public static async Task<long> ReadAndVerifyPatternAsync(PipeReader reader, int seed, CancellationToken ct)
    {
        long offset = 0;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            foreach (var segment in result.Buffer)
            {
                var span = segment.Span;
                for (var i = 0; i < span.Length; i++)
                {
                    if (span[i] != Pattern(offset + i, seed))
                    {
                        throw new InvalidDataException($"byte {offset + i} differs (stream seed {seed})");
                    }
                }
                offset += span.Length;
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return offset;
            }
        }
    }
}
