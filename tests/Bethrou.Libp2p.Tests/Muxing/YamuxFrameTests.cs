using System.Buffers;
using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Libp2p.Tests.Muxing;

public class YamuxFrameTests
{
    private const uint Max = 16 * 1024 * 1024;

    // libp2p-wire.md §14.7 (stream 1, client side)
    public static TheoryData<string, byte, ushort, uint, uint> Vectors => new()
    {
        { "000100010000000100000000", 1, 0x1, 1, 0 },  // open WU|SYN
        { "000100020000000100000000", 1, 0x2, 1, 0 },  // ack WU|ACK
        { "000100040000000100000000", 1, 0x4, 1, 0 },  // FIN
        { "000100080000000100000000", 1, 0x8, 1, 0 },  // RST
        { "000200010000000000000000", 2, 0x1, 0, 0 },  // ping SYN id 0
        { "000200020000000000000000", 2, 0x2, 0, 0 },  // pong ACK id 0
        { "000300000000000000000000", 3, 0x0, 0, 0 },  // GoAway normal
        { "000300000000000000000001", 3, 0x0, 0, 1 },  // GoAway protocol error
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void DocVectorsDecodeAndEncode(string hex, byte type, ushort flags, uint streamId, uint length)
    {
        var bytes = Convert.FromHexString(hex);
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var header));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(new YamuxHeader((YamuxFrameType)type, (YamuxFlags)flags, streamId, length), header);

        var writer = new ArrayBufferWriter<byte>();
        YamuxFrame.Write(writer, header);
        Assert.Equal(hex, Convert.ToHexString(writer.WrittenSpan).ToLowerInvariant());
    }

    [Fact]
    public void DataHelloVector()
    {
        const string hex = "00000000000000010000000568656c6c6f";
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var header));
        Assert.Equal(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 5), header);
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer.ToArray()));

        var writer = new ArrayBufferWriter<byte>();
        YamuxFrame.WriteData(writer, 1, YamuxFlags.None, new ReadOnlySequence<byte>("hello"u8.ToArray()));
        Assert.Equal(hex, Convert.ToHexString(writer.WrittenSpan).ToLowerInvariant());
    }

    [Fact]
    public void SplitAtEveryByteBoundary()
    {
        // Two frames back to back, the payload and a following frame must stay in the buffer.
        var bytes = Convert.FromHexString("00000000000000010000000568656c6c6f" + "000200010000000000000007");
        for (var split = 0; split <= bytes.Length; split++)
        {
            var buffer = Segments.Create(bytes, split);
            Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var first));
            Assert.Equal(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 5), first);
            Assert.Equal("hello"u8.ToArray(), buffer.Slice(0, 5).ToArray());
            buffer = buffer.Slice(5);
            Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var second));
            Assert.Equal(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 7), second);
            Assert.True(buffer.IsEmpty);
        }
    }

    [Fact]
    public void SplitHeaderAcrossManySegments()
    {
        var bytes = Convert.FromHexString("000100020000000700012345");
        var buffer = Segments.OneBytePerSegment(bytes);
        Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var header));
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 7, 0x12345), header);
    }

    [Fact]
    public void TruncatedHeaderNeedsMoreDataAndConsumesNothing()
    {
        var bytes = Convert.FromHexString("000100010000000100000000");
        for (var length = 0; length < bytes.Length; length++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, length);
            Assert.Equal(YamuxReadStatus.NeedMoreData, YamuxFrame.TryRead(ref buffer, Max, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    [Theory]
    [InlineData("010100010000000100000000", (int)YamuxReadStatus.BadVersion, "yamux: unsupported protocol version 1 (expected 0)")]
    [InlineData("ff0000000000000100000000", (int)YamuxReadStatus.BadVersion, "yamux: unsupported protocol version 255 (expected 0)")]
    [InlineData("000400000000000100000000", (int)YamuxReadStatus.BadType, "yamux: invalid frame type 4")]
    [InlineData("00ff00000000000100000000", (int)YamuxReadStatus.BadType, "yamux: invalid frame type 255")]
    [InlineData("000200010000000500000000", (int)YamuxReadStatus.SessionFrameOnStream, "yamux: Ping frame on stream 5 (only allowed on stream 0)")]
    [InlineData("000300000000000300000000", (int)YamuxReadStatus.SessionFrameOnStream, "yamux: GoAway frame on stream 3 (only allowed on stream 0)")]
    [InlineData("000000000000000000000001", (int)YamuxReadStatus.StreamFrameOnSession, "yamux: Data frame on stream 0 (only Ping and GoAway are allowed there)")]
    [InlineData("000100010000000000000000", (int)YamuxReadStatus.StreamFrameOnSession, "yamux: WindowUpdate frame on stream 0 (only Ping and GoAway are allowed there)")]
    [InlineData("000000000000000901000001", (int)YamuxReadStatus.DataTooLarge, "yamux: Data frame of 16777217 bytes on stream 9 exceeds the largest receive window 16777216")]
    public void BadHeadersGiveExactErrorsAndConsumeNothing(string hex, int expectedStatus, string message)
    {
        var bytes = Convert.FromHexString(hex);
        var buffer = new ReadOnlySequence<byte>(bytes);
        var status = YamuxFrame.TryRead(ref buffer, Max, out var header);
        Assert.Equal((YamuxReadStatus)expectedStatus, status);
        Assert.Equal(12, buffer.Length);
        Assert.Equal(message, YamuxFrame.DescribeError(status, header, Max));
    }

    [Fact]
    public void DataAtTheLimitIsAccepted()
    {
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString("000000000000000901000000"));
        Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var header));
        Assert.Equal(Max, header.Length);
    }

    [Fact]
    public void LargeWindowUpdateIsNotLimited()
    {
        // Only Data lengths are payload sizes; a WindowUpdate delta may be large.
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString("0001000000000009ffffffff"));
        Assert.Equal(YamuxReadStatus.Ok, YamuxFrame.TryRead(ref buffer, Max, out var header));
        Assert.Equal(uint.MaxValue, header.Length);
    }

    [Fact]
    public void GarbageIsRejected()
    {
        // Deterministic pseudo-random garbage: every 12-byte window that is not a valid header must be rejected
        // with a non-Ok status and never consume bytes; valid ones must round-trip.
        var random = new Random(1234);
        var bytes = new byte[12];
        var rejected = 0;
        for (var i = 0; i < 10_000; i++)
        {
            random.NextBytes(bytes);
            var buffer = new ReadOnlySequence<byte>(bytes);
            var status = YamuxFrame.TryRead(ref buffer, Max, out var header);
            if (status == YamuxReadStatus.Ok)
            {
                var writer = new ArrayBufferWriter<byte>();
                YamuxFrame.Write(writer, header);
                Assert.Equal(bytes, writer.WrittenSpan.ToArray());
            }
            else
            {
                Assert.NotEqual(YamuxReadStatus.NeedMoreData, status);
                Assert.Equal(12, buffer.Length);
                Assert.StartsWith("yamux: ", YamuxFrame.DescribeError(status, header, Max));
                rejected++;
            }
        }
        Assert.True(rejected > 9_900);
    }

    [Fact]
    public void WriteRoundTripsAllFields()
    {
        var header = new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn | YamuxFlags.Ack | YamuxFlags.Fin | YamuxFlags.Rst, 0xFEDCBA98, 0x89ABCDEF);
        Span<byte> bytes = stackalloc byte[12];
        YamuxFrame.Write(bytes, header);
        Assert.Equal("0001000FFEDCBA9889ABCDEF", Convert.ToHexString(bytes));
        Assert.Equal(header, YamuxFrame.Decode(bytes));
    }
}

/// <summary>Builds multi-segment sequences.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Create(byte[] bytes, int split)
    {
        if (split <= 0 || split >= bytes.Length)
        {
            return new ReadOnlySequence<byte>(bytes);
        }
        var first = new Segment(bytes.AsMemory(0, split), 0);
        var last = first.Append(bytes.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes)
    {
        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }
        return new ReadOnlySequence<byte>(first, 0, last, 1);
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
