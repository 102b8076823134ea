using System.Buffers;
using Bethrou.Libp2p.Security.Noise;

namespace Bethrou.Libp2p.Tests.Security;

public class NoiseFramingTests
{
    private static ReadOnlySequence<byte> Split(byte[] bytes, int at)
    {
        if (at <= 0 || at >= bytes.Length)
        {
            return new ReadOnlySequence<byte>(bytes);
        }
        var first = new Segment(bytes.AsMemory(0, at), 0);
        var last = first.Append(bytes.AsMemory(at));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    [Fact]
    public void WritesLengthPrefix()
    {
        var writer = new ArrayBufferWriter<byte>();
        NoiseFraming.Write(writer, [1, 2, 3]);
        Assert.Equal("0003010203", Convert.ToHexStringLower(writer.WrittenSpan));
        Assert.Throws<ArgumentOutOfRangeException>(() => NoiseFraming.Write(new ArrayBufferWriter<byte>(), new byte[65536]));
    }

    [Fact]
    public void ReadsAtEverySplitAndKeepsTheRest()
    {
        var bytes = NoiseTestKeys.Hex("0005 0102030405 0001 ff");
        for (var at = 0; at <= bytes.Length; at++)
        {
            var buffer = Split(bytes, at);
            Assert.Equal(NoiseFrameStatus.Ok, NoiseFraming.TryRead(ref buffer, 65535, out var frame, out var declared));
            Assert.Equal(5, declared);
            Assert.Equal("0102030405", Convert.ToHexStringLower(frame.ToArray()));
            Assert.Equal("0001ff", Convert.ToHexStringLower(buffer.ToArray()));
            Assert.Equal(NoiseFrameStatus.Ok, NoiseFraming.TryRead(ref buffer, 65535, out frame, out _));
            Assert.Equal("ff", Convert.ToHexStringLower(frame.ToArray()));
            Assert.True(buffer.IsEmpty);
        }
    }

    [Fact]
    public void TruncatedAtEveryByteNeedsMoreDataAndLeavesBufferAlone()
    {
        var bytes = NoiseTestKeys.Hex("0005 0102030405");
        for (var len = 0; len < bytes.Length; len++)
        {
            for (var at = 0; at <= len; at++)
            {
                var buffer = Split(bytes[..len], at);
                var before = buffer;
                Assert.Equal(NoiseFrameStatus.NeedMoreData, NoiseFraming.TryRead(ref buffer, 65535, out _, out var declared));
                Assert.Equal(len >= 2 ? 5 : -1, declared);
                Assert.Equal(before, buffer);
            }
        }
    }

    [Fact]
    public void RejectsLengthAboveTheLimitBeforeTheBodyArrives()
    {
        var buffer = new ReadOnlySequence<byte>(NoiseTestKeys.Hex("4001"));
        Assert.Equal(NoiseFrameStatus.TooLarge, NoiseFraming.TryRead(ref buffer, 16384, out _, out var declared));
        Assert.Equal(0x4001, declared);
        Assert.Equal(2, buffer.Length);
    }

    [Fact]
    public void EmptyFrame()
    {
        var buffer = new ReadOnlySequence<byte>(NoiseTestKeys.Hex("0000"));
        Assert.Equal(NoiseFrameStatus.Ok, NoiseFraming.TryRead(ref buffer, 65535, out var frame, out _));
        Assert.True(frame.IsEmpty);
        Assert.True(buffer.IsEmpty);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
