using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <summary>Yamux reading a Noise transport directly (payloads decrypted straight into the streams): frames from a peer
/// whose Noise frames fall anywhere in the yamux byte stream, as go's and js's may.</summary>
public class YamuxOverNoiseDirectTests
{
    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task HeadersAndPayloadsCutAcrossNoiseFramesAnywhere(int seed)
    {
        var k1 = RandomNumberGenerator.GetBytes(32);
        var k2 = RandomNumberGenerator.GetBytes(32);
        var (a, b) = DuplexPipe.CreatePair();
        var peer = new NoiseTransport(a, new NoiseCipherState(k1), new NoiseCipherState(k2), NullLogger.Instance, "peer");
        var ours = new NoiseTransport(b, new NoiseCipherState(k2), new NoiseCipherState(k1), NullLogger.Instance, "ours");
        Assert.True(((IDirectReader)ours.Input).CanReadDirect);
        await using var session = new YamuxSession(ours, isClient: false, new YamuxOptions(), NullLogger.Instance, TimeProvider.System);
        session.Start();

        var first = RandomNumberGenerator.GetBytes(150_000);
        var second = RandomNumberGenerator.GetBytes(90_000);
        var stray = RandomNumberGenerator.GetBytes(5_000);
        var yamux = new ArrayBufferWriter<byte>();
        YamuxFrame.Write(yamux, new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0));
        YamuxFrame.WriteData(yamux, 1, YamuxFlags.None, new System.Buffers.ReadOnlySequence<byte>(first));
        YamuxFrame.WriteData(yamux, 7, YamuxFlags.None, new System.Buffers.ReadOnlySequence<byte>(stray)); // unknown stream: skipped
        YamuxFrame.Write(yamux, new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 42));
        YamuxFrame.WriteData(yamux, 1, YamuxFlags.Fin, new System.Buffers.ReadOnlySequence<byte>(second));
        var bytes = yamux.WrittenMemory.ToArray();

        // Each flush of the peer's Noise writer closes a frame: cut the yamux bytes at random points, 1 byte at times.
        var rng = new Random(seed);
        for (var o = 0; o < bytes.Length;)
        {
            var n = Math.Min(bytes.Length - o, rng.Next(3) == 0 ? rng.Next(1, 13) : rng.Next(1, 40_000));
            peer.Output.Write(bytes.AsSpan(o, n));
            await peer.Output.FlushAsync(Timeout);
            o += n;
        }

        var stream = await session.AcceptStreamAsync(Timeout);
        Assert.NotNull(stream);
        var received = new MemoryStream();
        while (true)
        {
            var result = await stream.Input.ReadAsync(Timeout);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        Assert.True(first.Concat(second).ToArray().AsSpan().SequenceEqual(received.ToArray()));

        // The ping in the middle was answered: our side's reply comes back through our Noise writer.
        var reply = await peer.Input.ReadAsync(Timeout);
        var buffer = reply.Buffer;
        var found = false;
        while (YamuxFrame.TryRead(ref buffer, 1 << 24, out var header) == YamuxReadStatus.Ok)
        {
            found |= header.Type == YamuxFrameType.Ping && header.Flags == YamuxFlags.Ack && header.Length == 42;
            if (header.Type == YamuxFrameType.Data)
            {
                buffer = buffer.Slice(header.Length);
            }
        }
        Assert.True(found, "no ping ACK for the ping that arrived inside a cut-up Noise stream");
    }
}
