using System.IO.Pipelines;
using System.Security.Cryptography;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Tests.Security;

/// <summary>The transport's two cipher paths: OpenSSL fed piece by piece (encrypting on Advance and from the writer's
/// source in <see cref="IWriteFrom.WriteFrom"/>, decrypting frames that straddle segments without gathering them) and
/// the BCL's one-shot fallback. Same keys and writes must give the same bytes on the wire, and each must read the other.</summary>
public class NoiseIncrementalTests
{
    private static readonly byte[] Key1 = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] Key2 = RandomNumberGenerator.GetBytes(32);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;

    private static NoiseTransport Create(IDuplexPipe inner, bool incremental) =>
        new(inner, new NoiseCipherState(Key1, incremental), new NoiseCipherState(Key2, incremental), NullLogger.Instance, "test");

    /// <summary>A fixed mix of every way bytes enter the writer: small advances, WriteFrom pieces, a staged write larger
    /// than a frame, flushes in between. Returns the plaintext written.</summary>
    private static async Task<byte[]> WriteMixAsync(PipeWriter output)
    {
        var rng = new Random(42);
        var all = new MemoryStream();
        for (var step = 0; step < 60; step++)
        {
            var data = new byte[rng.Next(1, 90_000)];
            rng.NextBytes(data);
            all.Write(data);
            switch (step % 3)
            {
                case 0:
                    for (var o = 0; o < data.Length;)
                    {
                        var memory = output.GetMemory(Math.Min(data.Length - o, 5000));
                        var n = Math.Min(memory.Length, data.Length - o);
                        data.AsSpan(o, n).CopyTo(memory.Span);
                        output.Advance(n);
                        o += n;
                    }
                    break;
                case 1:
                    ((IWriteFrom)output).WriteFrom(data);
                    break;
                default:
                    var staged = output.GetMemory(data.Length);
                    data.CopyTo(staged);
                    output.Advance(data.Length);
                    break;
            }
            if (rng.Next(3) == 0)
            {
                await output.FlushAsync();
            }
        }
        await output.CompleteAsync();
        return all.ToArray();
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader input)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var result = await input.ReadAsync(Timeout);
            foreach (var segment in result.Buffer)
            {
                ms.Write(segment.Span);
            }
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return ms.ToArray();
            }
        }
    }

    private static async Task<(byte[] Plain, byte[] Wire)> SendAsync(bool incremental)
    {
        var (a, b) = DuplexPipe.CreatePair();
        var noise = Create(a, incremental);
        Assert.Equal(incremental, new NoiseCipherState(Key1, incremental).IsIncremental);
        var wire = ReadAllAsync(b.Input);
        var plain = await WriteMixAsync(noise.Output);
        return (plain, await wire);
    }

    [Fact]
    public async Task BothPathsPutTheSameBytesOnTheWire()
    {
        var (plainA, wireA) = await SendAsync(incremental: true);
        var (plainB, wireB) = await SendAsync(incremental: false);
        Assert.Equal(plainA, plainB);
        Assert.True(wireA.Length > plainA.Length);
        Assert.True(wireA.AsSpan().SequenceEqual(wireB), "the incremental and one-shot writers produced different ciphertext");
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public async Task EachPathReadsTheOthersFramesCutAnywhere(bool senderIncremental, bool receiverIncremental)
    {
        var (plain, wire) = await SendAsync(senderIncremental);
        // Small segments so frames straddle them; random cuts so they arrive in pieces.
        var small = new PipeOptions(minimumSegmentSize: 4096, pauseWriterThreshold: 0, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(small, small);
        // Receive with the sender's keys swapped: what it sent with Key1 we read with Key1.
        var noise = new NoiseTransport(b, new NoiseCipherState(Key2, receiverIncremental), new NoiseCipherState(Key1, receiverIncremental), NullLogger.Instance, "test");
        var reading = ReadAllAsync(noise.Input);
        var rng = new Random(senderIncremental ? 1 : 2);
        for (var o = 0; o < wire.Length;)
        {
            var n = Math.Min(wire.Length - o, rng.Next(1, 30_000));
            await a.Output.WriteAsync(wire.AsMemory(o, n));
            o += n;
        }
        await a.Output.CompleteAsync();
        var received = await reading;
        Assert.True(plain.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task ATamperedStraddlingFrameFailsOnTheIncrementalPath()
    {
        var (_, wire) = await SendAsync(incremental: true);
        wire[70_000] ^= 1; // inside the second frame, which the 4 KiB segments split
        var small = new PipeOptions(minimumSegmentSize: 4096, pauseWriterThreshold: 0, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(small, small);
        var noise = new NoiseTransport(b, new NoiseCipherState(Key2), new NoiseCipherState(Key1), NullLogger.Instance, "test");
        await a.Output.WriteAsync(wire.AsMemory(0, 140_000));
        var ex = await Assert.ThrowsAsync<IOException>(async () => await noise.Input.ReadAsync(Timeout));
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", ex.Message);
        var write = Assert.Throws<IOException>(() => noise.Output.GetMemory(10));
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", write.Message);
    }
}
