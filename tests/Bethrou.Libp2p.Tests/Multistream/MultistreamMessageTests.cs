using System.Buffers;
using System.Text;
using Bethrou.Libp2p.Multistream;

namespace Bethrou.Libp2p.Tests.Multistream;

public class MultistreamMessageTests
{
    // libp2p-wire.md §14.4
    public static TheoryData<string, string> Vectors => new()
    {
        { "/multistream/1.0.0", "132f6d756c746973747265616d2f312e302e300a" },
        { "/noise", "072f6e6f6973650a" },
        { "/yamux/1.0.0", "0d2f79616d75782f312e302e300a" },
        { "na", "036e610a" },
        { "/ipfs/id/1.0.0", "0f2f697066732f69642f312e302e300a" },
        { "/ipfs/id/push/1.0.0", "142f697066732f69642f707573682f312e302e300a" },
        { "/ipfs/ping/1.0.0", "112f697066732f70696e672f312e302e300a" },
        { "/libp2p/circuit/relay/0.2.0/hop", "202f6c69627032702f636972637569742f72656c61792f302e322e302f686f700a" },
        { "/libp2p/circuit/relay/0.2.0/stop", "212f6c69627032702f636972637569742f72656c61792f302e322e302f73746f700a" },
        { "/libp2p/dcutr", "0e2f6c69627032702f64637574720a" },
        { "/libp2p/autonat/1.0.0", "162f6c69627032702f6175746f6e61742f312e302e300a" },
        { "/perf/1.0.0", "0c2f706572662f312e302e300a" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void EncodesDigestVectors(string message, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(MultistreamMessage.Encode(message)));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void DecodesDigestVectorsAndKeepsTheRest(string message, string hex)
    {
        var bytes = Convert.FromHexString(hex + "abcdef");
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref buffer, out var decoded, out var length));
        Assert.Equal(message, decoded);
        Assert.Equal(Encoding.UTF8.GetByteCount(message) + 1, length);
        Assert.Equal("abcdef", Convert.ToHexStringLower(buffer.ToArray()));
    }

    [Fact]
    public void DialerFirstWriteWithoutPskIsHeaderThenNoise()
    {
        var writer = new ArrayBufferWriter<byte>();
        MultistreamMessage.Write(writer, "/multistream/1.0.0");
        MultistreamMessage.Write(writer, "/noise");
        Assert.Equal("132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a", Convert.ToHexStringLower(writer.WrittenSpan));
    }

    [Fact]
    public void SplitAtEveryByteBoundary()
    {
        var data = Concat(
            MultistreamMessage.Encode("/multistream/1.0.0"),
            MultistreamMessage.Encode("/ipfs/id/push/1.0.0"),
            MultistreamMessage.Encode("na"),
            MultistreamMessage.Encode(new string('x', 200)), // two-byte length prefix
            MultistreamMessage.Encode("/ünïcødé/1"),
            [0x01, 0x02, 0x03]);
        string[] expected = ["/multistream/1.0.0", "/ipfs/id/push/1.0.0", "na", new string('x', 200), "/ünïcødé/1"];
        for (var i = 0; i <= data.Length; i++)
        {
            for (var j = i; j <= data.Length; j += Math.Max(1, data.Length / 16))
            {
                var buffer = SequenceSplitter.Split(data, i, j);
                var messages = new List<string>();
                while (MultistreamMessage.TryRead(ref buffer, out var message, out _) == MultistreamReadStatus.Ok)
                {
                    messages.Add(message);
                }
                Assert.Equal(expected, messages);
                Assert.Equal([0x01, 0x02, 0x03], buffer.ToArray());
            }
        }
    }

    [Fact]
    public void EveryTruncationNeedsMoreDataAndConsumesNothing()
    {
        var data = Concat(MultistreamMessage.Encode(new string('y', 300)));
        for (var n = 0; n < data.Length; n++)
        {
            var buffer = SequenceSplitter.Split(data[..n], n / 2);
            Assert.Equal(MultistreamReadStatus.NeedMoreData, MultistreamMessage.TryRead(ref buffer, out _, out _));
            Assert.Equal(n, buffer.Length);
        }
    }

    [Fact]
    public void MaximumLengthIsAccepted()
    {
        var body = Enumerable.Repeat((byte)'a', 1023).Append((byte)'\n').ToArray();
        var buffer = new ReadOnlySequence<byte>(Concat([0x80, 0x08], body)); // 1024
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref buffer, out var message, out var length));
        Assert.Equal(1024, length);
        Assert.Equal(1023, message.Length);
    }

    [Theory]
    [InlineData("8108", "TooLong", 1025, "message length 1025 exceeds the maximum of 1024 bytes")]
    [InlineData("ffff", "TooLong", -1, "message length exceeds the maximum of 1024 bytes (length varint longer than 2 bytes)")]
    [InlineData("8080", "TooLong", -1, "message length exceeds the maximum of 1024 bytes (length varint longer than 2 bytes)")]
    [InlineData("ffffffffffffffffffff", "TooLong", -1, "message length exceeds the maximum of 1024 bytes (length varint longer than 2 bytes)")]
    [InlineData("8300", "LengthNotMinimal", -1, "message length varint is not minimally encoded")]
    [InlineData("8300616263", "LengthNotMinimal", -1, "message length varint is not minimally encoded")]
    [InlineData("00", "Empty", 0, "empty message (length 0, no newline)")]
    [InlineData("010a", "Empty", 1, "empty message (only a newline)")]
    [InlineData("036e6178", "MissingNewline", 3, "message of 3 bytes does not end with a newline")]
    [InlineData("0161", "MissingNewline", 1, "message of 1 bytes does not end with a newline")]
    [InlineData("03ff fe0a", "InvalidUtf8", 3, "message is not valid UTF-8")]
    [InlineData("04c3280a0a", "InvalidUtf8", 4, "message is not valid UTF-8")]
    public void RejectsGarbageWithExactErrors(string hex, string status, int expectedLength, string description)
    {
        var expected = Enum.Parse<MultistreamReadStatus>(status);
        var bytes = Convert.FromHexString(hex.Replace(" ", string.Empty));
        for (var split = 0; split <= bytes.Length; split++)
        {
            var buffer = SequenceSplitter.Split(bytes, split);
            Assert.Equal(expected, MultistreamMessage.TryRead(ref buffer, out _, out var length));
            Assert.Equal(expectedLength, length);
            Assert.Equal(bytes.Length, buffer.Length); // nothing consumed on error
            Assert.Equal(description, MultistreamMessage.Describe(expected, length));
        }
    }

    [Fact]
    public void WriteRejectsEmptyAndOversizedIds()
    {
        var writer = new ArrayBufferWriter<byte>();
        Assert.StartsWith("a multistream message cannot be empty",
            Assert.Throws<ArgumentException>(() => MultistreamMessage.Write(writer, string.Empty)).Message);
        Assert.StartsWith("a multistream message is at most 1023 UTF-8 bytes, got 1024",
            Assert.Throws<ArgumentException>(() => MultistreamMessage.Write(writer, new string('z', 1024))).Message);
        MultistreamMessage.Write(writer, new string('z', 1023));
        Assert.Equal(2 + 1024, writer.WrittenCount);
    }

    [Fact]
    public void ListResponseIsOneMessageOfFramedIds()
    {
        var writer = new ArrayBufferWriter<byte>();
        MultistreamMessage.WriteList(writer, ["/noise", "na"]);
        // 0d = 13 bytes: 07 "/noise\n" 03 "na\n" then the message's own "\n"
        Assert.Equal("0d072f6e6f6973650a036e610a0a", Convert.ToHexStringLower(writer.WrittenSpan));

        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref buffer, out var body, out _));
        var inner = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body));
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref inner, out var first, out _));
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref inner, out var second, out _));
        Assert.Equal(("/noise", "na"), (first, second));
        Assert.True(inner.IsEmpty);
    }

    [Fact]
    public void ListResponseStaysWithinTheMaximum()
    {
        var many = Enumerable.Range(0, 100).Select(i => $"/protocol/number/{i:D3}").ToArray(); // 21 bytes each, 23 framed
        var writer = new ArrayBufferWriter<byte>();
        MultistreamMessage.WriteList(writer, many);
        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        Assert.Equal(MultistreamReadStatus.Ok, MultistreamMessage.TryRead(ref buffer, out _, out var length));
        Assert.Equal(1 + (44 * 23), length); // 44 ids fit: 44 * 23 + 1 = 1013 <= 1024, 45 would be 1036
    }

    [Fact]
    public void SanitizeReplacesControlCharactersAndTruncates()
    {
        Assert.Equal("a?b", MultistreamMessage.Sanitize("a\nb"));
        Assert.Equal(new string('q', 64) + "...", MultistreamMessage.Sanitize(new string('q', 100)));
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
