using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Protocols.Dcutr;
using Bethrou.Libp2p.Tests.Multistream;

namespace Bethrou.Libp2p.Tests.Relay;

public sealed class HolePunchCodecTests
{
    private const string ConnectVector = "0c086412080401020304060fa1";
    private const string SyncVector = "0308ac02";

    private static string Encode(HolePunchMessage m)
    {
        var w = new ArrayBufferWriter<byte>();
        HolePunchCodec.Write(w, m);
        return Convert.ToHexStringLower(w.WrittenSpan);
    }

    [Fact]
    public void WritesAndReadsTheDigestVectors()
    {
        Assert.Equal(ConnectVector, Encode(new HolePunchMessage(HolePunchType.Connect, [Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001")])));
        Assert.Equal(SyncVector, Encode(HolePunchMessage.Sync));

        var seq = new ReadOnlySequence<byte>(Convert.FromHexString(ConnectVector + SyncVector));
        Assert.Equal(HolePunchReadStatus.Ok, HolePunchCodec.TryRead(ref seq, out var connect, out _));
        Assert.Equal(HolePunchType.Connect, connect!.Type);
        Assert.Equal("/ip4/1.2.3.4/tcp/4001", Assert.Single(connect.ObsAddrs).ToString());
        Assert.Equal(HolePunchReadStatus.Ok, HolePunchCodec.TryRead(ref seq, out var sync, out _));
        Assert.Equal(HolePunchType.Sync, sync!.Type);
        Assert.Empty(sync.ObsAddrs);
        Assert.True(seq.IsEmpty);
    }

    [Theory]
    [InlineData(ConnectVector)]
    [InlineData(SyncVector)]
    public void SplitAtEveryByteAndTruncated(string hex)
    {
        var data = Convert.FromHexString(hex);
        for (var cut = 1; cut < data.Length; cut++)
        {
            var seq = SequenceSplitter.Split(data, cut);
            Assert.Equal(HolePunchReadStatus.Ok, HolePunchCodec.TryRead(ref seq, out _, out _));
            Assert.True(seq.IsEmpty);
        }
        for (var len = 0; len < data.Length; len++)
        {
            var seq = new ReadOnlySequence<byte>(data, 0, len);
            Assert.Equal(HolePunchReadStatus.NeedMoreData, HolePunchCodec.TryRead(ref seq, out _, out var error));
            Assert.Null(error);
            Assert.Equal(len, seq.Length);
        }
    }

    [Theory]
    [InlineData("812008", HolePunchReadStatus.Oversized, "HolePunch of 4097 bytes exceeds the 4096-byte limit")]
    [InlineData("8000", HolePunchReadStatus.BadLengthPrefix, "HolePunch length prefix is not a minimal varint")]
    [InlineData("00", HolePunchReadStatus.Malformed, "malformed HolePunch: type is missing")]
    [InlineData("020800", HolePunchReadStatus.Malformed, "malformed HolePunch: unknown type 0")]
    [InlineData("020a00", HolePunchReadStatus.Malformed, "malformed HolePunch: field 1 (type) has wire type 2, expected 0")]
    [InlineData("0408641001", HolePunchReadStatus.Malformed, "malformed HolePunch: field 2 (ObsAddrs) has wire type 0, expected 2")]
    [InlineData("04086412ff", HolePunchReadStatus.Malformed, "malformed HolePunch: truncated varint")]
    public void GarbageIsRefusedWithAPreciseError(string hex, HolePunchReadStatus expected, string message)
    {
        var seq = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        Assert.Equal(expected, HolePunchCodec.TryRead(ref seq, out var m, out var error));
        Assert.Null(m);
        Assert.Equal(message, error);
    }

    [Fact]
    public async Task ReadAsyncKeepsFollowingBytes()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Convert.FromHexString(SyncVector + "abcd"));
        await pipe.Writer.CompleteAsync();
        Assert.Equal(HolePunchType.Sync, (await HolePunchCodec.ReadAsync(pipe.Reader, CancellationToken.None)).Type);
        var rest = await pipe.Reader.ReadAsync();
        Assert.Equal(Convert.FromHexString("abcd"), rest.Buffer.ToArray());
    }
}
