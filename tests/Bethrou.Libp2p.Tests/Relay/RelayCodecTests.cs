using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Protocols.Relay;
using Bethrou.Libp2p.Tests.Multistream;
using Bethrou.Libp2p.Tests.Security;

namespace Bethrou.Libp2p.Tests.Relay;

public sealed class RelayCodecTests
{
    private const string Id2Multihash = "00240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
    private const string HopReserve = "020800";
    private const string HopConnectToId2 = "2c080112280a26" + Id2Multihash;
    private const string StopStatusOk = "0408012064";

    private static byte[] Hex(string s) => Convert.FromHexString(s);

    private static byte[] Encode(HopMessage m)
    {
        var w = new ArrayBufferWriter<byte>();
        RelayCodec.Write(w, m);
        return w.WrittenSpan.ToArray();
    }

    private static byte[] Encode(StopMessage m)
    {
        var w = new ArrayBufferWriter<byte>();
        RelayCodec.Write(w, m);
        return w.WrittenSpan.ToArray();
    }

    private static HopMessage FullHop() => new(HopMessageType.Status)
    {
        Peer = new RelayPeer(NoiseTestKeys.Id2().PeerId, [Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001")]),
        Reservation = new RelayReservation(1700000000, [Multiaddress.Parse("/ip4/5.6.7.8/tcp/4001/p2p/" + NoiseTestKeys.Id1().PeerId)], [1, 2, 3]),
        Limit = new RelayLimit(120, 131072),
        Status = RelayStatus.Ok,
    };

    [Fact]
    public void WritesTheDigestVectors()
    {
        Assert.Equal(HopReserve, Convert.ToHexStringLower(Encode(HopMessage.Reserve())));
        Assert.Equal(HopConnectToId2, Convert.ToHexStringLower(Encode(HopMessage.Connect(NoiseTestKeys.Id2().PeerId))));
        Assert.Equal(StopStatusOk, Convert.ToHexStringLower(Encode(StopMessage.FromStatus(RelayStatus.Ok))));
        // StopMessage CONNECT: type 0 is written explicitly.
        Assert.StartsWith("0800", Convert.ToHexStringLower(Encode(new StopMessage(StopMessageType.Connect) { Peer = new RelayPeer(NoiseTestKeys.Id2().PeerId) }))[2..], StringComparison.Ordinal);
    }

    [Fact]
    public void ReadsTheDigestVectors()
    {
        var seq = new ReadOnlySequence<byte>(Hex(HopReserve));
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadHop(ref seq, out var reserve, out _));
        Assert.Equal(HopMessageType.Reserve, reserve!.Type);
        Assert.True(seq.IsEmpty);

        seq = new ReadOnlySequence<byte>(Hex(HopConnectToId2));
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadHop(ref seq, out var connect, out _));
        Assert.Equal(HopMessageType.Connect, connect!.Type);
        Assert.Equal(NoiseTestKeys.Id2().PeerId, connect.Peer!.Id);
        Assert.Empty(connect.Peer.Addrs);

        seq = new ReadOnlySequence<byte>(Hex(StopStatusOk));
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadStop(ref seq, out var status, out _));
        Assert.Equal(StopMessageType.Status, status!.Type);
        Assert.Equal(RelayStatus.Ok, status.Status);
        Assert.Null(status.Peer);
        Assert.Null(status.Limit);
    }

    [Fact]
    public void FullHopMessageRoundTrips()
    {
        var bytes = Encode(FullHop());
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadHop(ref seq, out var m, out var error));
        Assert.Null(error);
        Assert.Equal(RelayStatus.Ok, m!.Status);
        Assert.Equal(new RelayLimit(120, 131072), m.Limit);
        Assert.Equal(1700000000UL, m.Reservation!.Expire);
        Assert.Equal([1, 2, 3], m.Reservation.Voucher);
        Assert.Equal("/ip4/5.6.7.8/tcp/4001/p2p/" + NoiseTestKeys.Id1().PeerId, Assert.Single(m.Reservation.Addrs).ToString());
        Assert.Equal("/ip4/1.2.3.4/tcp/4001", Assert.Single(m.Peer!.Addrs).ToString());
        Assert.Equal(bytes, Encode(m));
    }

    [Fact]
    public void StopConnectWithLimitRoundTrips()
    {
        var msg = new StopMessage(StopMessageType.Connect) { Peer = new RelayPeer(NoiseTestKeys.Id1().PeerId), Limit = new RelayLimit(0, 1UL << 40) };
        var bytes = Encode(msg);
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadStop(ref seq, out var m, out _));
        Assert.Equal(StopMessageType.Connect, m!.Type);
        Assert.Equal(NoiseTestKeys.Id1().PeerId, m.Peer!.Id);
        Assert.Equal(new RelayLimit(0, 1UL << 40), m.Limit);
        Assert.Equal(bytes, Encode(m));
    }

    public static TheoryData<string> AllVectors() => new() { HopReserve, HopConnectToId2, StopStatusOk, "full" };

    private static byte[] VectorBytes(string v) => v == "full" ? Encode(FullHop()) : Hex(v);

    [Theory]
    [MemberData(nameof(AllVectors))]
    public void ParsesWhenSplitAtEveryByteBoundary(string vector)
    {
        var data = VectorBytes(vector);
        var stop = vector == StopStatusOk;
        for (var cut = 1; cut < data.Length; cut++)
        {
            var seq = SequenceSplitter.Split(data, cut);
            var status = stop
                ? RelayCodec.TryReadStop(ref seq, out _, out _)
                : RelayCodec.TryReadHop(ref seq, out _, out _);
            Assert.Equal(RelayReadStatus.Ok, status);
            Assert.True(seq.IsEmpty, $"cut at {cut}");
        }
    }

    [Theory]
    [MemberData(nameof(AllVectors))]
    public void TruncatedInputNeedsMoreDataAndConsumesNothing(string vector)
    {
        var data = VectorBytes(vector);
        for (var len = 0; len < data.Length; len++)
        {
            var seq = new ReadOnlySequence<byte>(data, 0, len);
            var status = vector == StopStatusOk
                ? RelayCodec.TryReadStop(ref seq, out _, out var e1)
                : RelayCodec.TryReadHop(ref seq, out _, out e1);
            Assert.Equal(RelayReadStatus.NeedMoreData, status);
            Assert.Null(e1);
            Assert.Equal(len, seq.Length);
        }
    }

    [Fact]
    public void BytesAfterTheMessageStayInTheBuffer()
    {
        var data = Hex(StopStatusOk + "2f6d756c746973747265616d");
        var seq = SequenceSplitter.Split(data, 3, 6);
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadStop(ref seq, out _, out _));
        Assert.Equal(Hex("2f6d756c746973747265616d"), seq.ToArray());
    }

    [Fact]
    public void OversizedMessageIsRefusedFromItsPrefix()
    {
        var seq = new ReadOnlySequence<byte>(Hex("812008"));   // 4097
        Assert.Equal(RelayReadStatus.Oversized, RelayCodec.TryReadHop(ref seq, out var m, out var error));
        Assert.Null(m);
        Assert.Equal("relay message of 4097 bytes exceeds the 4096-byte limit", error);
        Assert.Equal(3, seq.Length);

        Assert.Throws<ArgumentException>(() => RelayCodec.Write(new ArrayBufferWriter<byte>(),
            new HopMessage(HopMessageType.Status) { Reservation = new RelayReservation(1, [], new byte[5000]) }));
    }

    [Theory]
    [InlineData("8000", "relay message length prefix is not a minimal varint")]
    [InlineData("ffffffffffffffffffff", "relay message length prefix is longer than 9 bytes")]
    public void BadLengthPrefix(string hex, string expected)
    {
        var seq = new ReadOnlySequence<byte>(Hex(hex));
        Assert.Equal(RelayReadStatus.BadLengthPrefix, RelayCodec.TryReadStop(ref seq, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("00", "malformed HopMessage: type is missing")]
    [InlineData("022864", "malformed HopMessage: type is missing")]                  // status only
    [InlineData("020807", "malformed HopMessage: unknown type 7")]
    [InlineData("020a00", "malformed HopMessage: field 1 (type) has wire type 2, expected 0")]
    [InlineData("04080228" + "07", "malformed HopMessage: unknown status 7")]
    [InlineData("0408011200", "malformed HopMessage: peer has no id")]
    [InlineData("050801120500", "malformed HopMessage: protobuf field 2 length 5 exceeds the message")]
    [InlineData("07080112030a01ff", "malformed HopMessage: peer id: ")]
    [InlineData("02080f", "malformed HopMessage: unknown type 15")]
    [InlineData("0108", "malformed HopMessage: truncated varint")]
    [InlineData("0700000000000000", "malformed HopMessage: protobuf field number 0")]
    [InlineData("07080222030a0100", "malformed HopMessage.limit: field 1 (duration) has wire type 2, expected 0")]
    [InlineData("0308020b", "malformed HopMessage: unsupported protobuf wire type 3 in field 1")]
    public void GarbageHopIsMalformedWithAPreciseError(string hex, string expected)
    {
        var seq = new ReadOnlySequence<byte>(Hex(hex));
        var status = RelayCodec.TryReadHop(ref seq, out var m, out var error);
        Assert.Equal(RelayReadStatus.Malformed, status);
        Assert.Null(m);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
        Assert.Equal(Hex(hex).Length, seq.Length);
    }

    [Theory]
    [InlineData("00", "malformed StopMessage: type is missing")]
    [InlineData("020802", "malformed StopMessage: unknown type 2")]
    [InlineData("04080120c8", "malformed StopMessage: truncated varint")]
    [InlineData("050801200b07", "malformed StopMessage: unknown status 11")]
    [InlineData("041a020801", "malformed StopMessage: type is missing")]
    [InlineData("06080012020a00", "malformed StopMessage: peer id: ")]
    public void GarbageStopIsMalformedWithAPreciseError(string hex, string expected)
    {
        var seq = new ReadOnlySequence<byte>(Hex(hex));
        Assert.Equal(RelayReadStatus.Malformed, RelayCodec.TryReadStop(ref seq, out var m, out var error));
        Assert.Null(m);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownFieldsAndUnparseableAddressesAreSkipped()
    {
        // type=CONNECT, peer{id=ID2, addrs=[garbage]}, unknown field 9 (varint 1)
        var peer = "0a26" + Id2Multihash + "1202ffff";
        var body = "0801" + "12" + (peer.Length / 2).ToString("x2") + peer + "4801";
        var seq = new ReadOnlySequence<byte>(Hex((body.Length / 2).ToString("x2") + body));
        Assert.Equal(RelayReadStatus.Ok, RelayCodec.TryReadHop(ref seq, out var m, out _));
        Assert.Equal(NoiseTestKeys.Id2().PeerId, m!.Peer!.Id);
        Assert.Empty(m.Peer.Addrs);
    }

    [Fact]
    public async Task ReadAsyncLeavesTheBytesThatFollowInThePipe()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Hex(StopStatusOk[..4]));
        var read = RelayCodec.ReadStopAsync(pipe.Reader, CancellationToken.None).AsTask();
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync(Hex(StopStatusOk[4..] + "13"));
        await pipe.Writer.WriteAsync(Hex("2f"));
        var msg = await read;
        Assert.Equal(RelayStatus.Ok, msg.Status);
        await pipe.Writer.CompleteAsync();
        var rest = await pipe.Reader.ReadAsync();
        Assert.Equal(Hex("132f"), rest.Buffer.ToArray());
    }

    [Fact]
    public async Task ReadAsyncReportsEndOfStreamAndGarbageAsMalformed()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Hex("0408"));
        await pipe.Writer.CompleteAsync();
        var ex = await Assert.ThrowsAsync<RelayException>(async () => await RelayCodec.ReadHopAsync(pipe.Reader, CancellationToken.None));
        Assert.Equal(RelayStatus.MalformedMessage, ex.Status);
        Assert.Equal("the stream ended inside a HopMessage", ex.Message);

        var empty = new Pipe();
        await empty.Writer.CompleteAsync();
        ex = await Assert.ThrowsAsync<RelayException>(async () => await RelayCodec.ReadStopAsync(empty.Reader, CancellationToken.None));
        Assert.Equal("the stream ended before a StopMessage arrived", ex.Message);

        var garbage = new Pipe();
        await garbage.Writer.WriteAsync(Hex("020807"));
        ex = await Assert.ThrowsAsync<RelayException>(async () => await RelayCodec.ReadHopAsync(garbage.Reader, CancellationToken.None));
        Assert.Equal("malformed HopMessage: unknown type 7", ex.Message);
    }
}
