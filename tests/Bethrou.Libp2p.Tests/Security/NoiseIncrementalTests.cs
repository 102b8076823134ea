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

/// <summary>NoiseInput used as an <see cref="IDirectReader"/> (how yamux reads it): each frame's tag is checked before
/// any of its bytes is produced.</summary>
public class NoiseDirectReaderTests
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;

    private static byte[] Seal(params byte[][] messages)
    {
        using var send = new NoiseCipherState(Key);
        var wire = new MemoryStream();
        foreach (var m in messages)
        {
            var frame = new byte[2 + m.Length + 16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)(m.Length + 16));
            send.Encrypt(default, m, frame.AsSpan(2, m.Length), frame.AsSpan(2 + m.Length));
            wire.Write(frame);
        }
        return wire.ToArray();
    }

    private static (NoiseTransport Noise, PipeWriter Wire) Receiver()
    {
        var small = new PipeOptions(minimumSegmentSize: 4096, pauseWriterThreshold: 0, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(small, small);
        var noise = new NoiseTransport(b, new NoiseCipherState(RandomNumberGenerator.GetBytes(32)), new NoiseCipherState(Key), NullLogger.Instance, "test");
        return (noise, a.Output);
    }

    private static async Task<byte[]> ReadDirectAsync(IDirectReader reader, Random rng)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var result = await reader.WaitAsync(Timeout);
            while (reader.Available > 0)
            {
                var n = (int)Math.Min(reader.Available, rng.Next(1, 30_000));
                var piece = new byte[n];
                reader.Read(piece);
                ms.Write(piece);
            }
            if (result.IsCompleted)
            {
                return ms.ToArray();
            }
        }
    }

    [Fact]
    public async Task FramesCutAnywhereComeOutWhole_EmptyFramesIncluded()
    {
        var rng = new Random(3);
        var messages = Enumerable.Range(0, 40).Select(i => RandomNumberGenerator.GetBytes(i % 5 == 0 ? 0 : rng.Next(1, 65519))).ToArray();
        var wire = Seal(messages);
        var (noise, output) = Receiver();
        var reader = Assert.IsAssignableFrom<IDirectReader>(noise.Input);
        Assert.True(reader.CanReadDirect);
        var reading = ReadDirectAsync(reader, rng);
        for (var o = 0; o < wire.Length;)
        {
            var n = Math.Min(wire.Length - o, rng.Next(1, 20_000));
            await output.WriteAsync(wire.AsMemory(o, n));
            o += n;
        }
        await output.CompleteAsync();
        var received = await reading;
        Assert.True(messages.SelectMany(m => m).ToArray().AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task NoByteOfAForgedFrameIsProduced()
    {
        var good = RandomNumberGenerator.GetBytes(1000);
        var forged = RandomNumberGenerator.GetBytes(1000);
        var wire = Seal(good, forged);
        wire[2 + 1000 + 16 + 2 + 10] ^= 0x01; // one bit of the second frame's ciphertext
        var (noise, output) = Receiver();
        var reader = (IDirectReader)noise.Input;
        await output.WriteAsync(wire);
        await reader.WaitAsync(Timeout);
        Assert.Equal(2000, reader.Available); // both frames are whole; neither is checked yet
        var first = new byte[1000];
        reader.Read(first);
        Assert.Equal(good, first);
        var second = new byte[1000];
        var ex = Assert.Throws<IOException>(() => reader.Read(second));
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", ex.Message);
        Assert.All(second, b => Assert.Equal(0, b));
        var again = await Assert.ThrowsAsync<IOException>(async () => await reader.WaitAsync(Timeout));
        Assert.Same(ex, again);
        Assert.Equal(ex.Message, Assert.Throws<IOException>(() => noise.Output.GetMemory(1)).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(30)]
    public async Task TheConnectionEndingInsideAFrameIsReported(int keep)
    {
        var wire = Seal(RandomNumberGenerator.GetBytes(10), RandomNumberGenerator.GetBytes(100));
        var (noise, output) = Receiver();
        var reader = (IDirectReader)noise.Input;
        await output.WriteAsync(wire.AsMemory(0, 28 + keep));
        await output.CompleteAsync();
        await reader.WaitAsync(Timeout);
        reader.Read(new byte[10]);
        var ex = await Assert.ThrowsAsync<IOException>(async () => await reader.WaitAsync(Timeout));
        Assert.Equal($"noise: the connection closed in the middle of a frame ({keep} bytes of an incomplete frame)", ex.Message);
    }

    [Fact]
    public async Task AFrameShorterThanTheTagIsReportedAfterTheFramesBeforeIt()
    {
        var wire = Seal(RandomNumberGenerator.GetBytes(10)).Concat(new byte[] { 0, 5, 1, 2, 3, 4, 5 }).ToArray();
        var (noise, output) = Receiver();
        var reader = (IDirectReader)noise.Input;
        await output.WriteAsync(wire);
        await reader.WaitAsync(Timeout);
        Assert.Equal(10, reader.Available);
        reader.Read(new byte[10]);
        var ex = await Assert.ThrowsAsync<IOException>(async () => await reader.WaitAsync(Timeout));
        Assert.Equal("noise: received a 5-byte frame, shorter than the 16-byte authentication tag", ex.Message);
    }

    [Fact]
    public async Task WhatThePipeReaderApiBufferedComesFirstAfterTheSwitch()
    {
        var wire = Seal("/yamux/1.0.0\n"u8.ToArray().Concat(new byte[] { 1, 2, 3 }).ToArray(), new byte[] { 4, 5 });
        var (noise, output) = Receiver();
        await output.WriteAsync(wire);
        var read = await noise.Input.ReadAsync(Timeout);
        Assert.Equal(18, read.Buffer.Length); // both frames decrypted by the PipeReader path
        noise.Input.AdvanceTo(read.Buffer.GetPosition(13)); // a negotiation took its line, left 3 bytes
        var reader = (IDirectReader)noise.Input;
        await reader.WaitAsync(Timeout);
        Assert.Equal(5, reader.Available);
        var rest = new byte[5];
        reader.Read(rest);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, rest);
        await output.CompleteAsync();
        Assert.True((await reader.WaitAsync(Timeout)).IsCompleted);
    }
}
