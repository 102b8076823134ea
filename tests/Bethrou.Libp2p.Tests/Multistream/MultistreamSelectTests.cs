using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Bethrou.Libp2p.Multistream;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Libp2p.Tests.Multistream;

public class MultistreamSelectTests
{
    private const string Hint = " — wrong private network key (PSK) or not a libp2p peer?";
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30); // only to turn a hang into a failure

    [Fact]
    public async Task InitiatorWritesHeaderAndProposalInOneFlushWithoutWaiting()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var counting = new FlushCountingPipe(a);
        var select = SelectOneAsync(counting, ["/noise"]);

        // The remote has written nothing: the initiator must not wait for its header.
        var first = await b.Input.ReadAsync().AsTask().WaitAsync(Guard);
        Assert.Equal("132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a", Convert.ToHexStringLower(first.Buffer.ToArray()));
        Assert.Equal(1, counting.Flushes);
        b.Input.AdvanceTo(first.Buffer.End);

        await WriteAsync(b.Output, Msg("/multistream/1.0.0"), Msg("/noise"));
        Assert.Equal("/noise", await select);
        Assert.Equal(1, counting.Flushes);
    }

    [Fact]
    public async Task NegotiatesWithNaFallback()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var handle = HandleAsync(b, ["/noise", "/yamux/1.0.0"]);
        var selected = await SelectOneAsync(a, ["/tls/1.0.0", "/noise"]);
        Assert.Equal("/noise", selected);
        Assert.Equal("/noise", await handle);

        // The pipes now carry the selected protocol in both directions.
        await WriteAsync(a.Output, "ping"u8.ToArray());
        Assert.Equal("ping", await ReadStringAsync(b.Input, 4));
        await WriteAsync(b.Output, "pong"u8.ToArray());
        Assert.Equal("pong", await ReadStringAsync(a.Input, 4));
    }

    [Fact]
    public async Task BothSidesFailWhenNothingIsShared()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var handle = HandleAsync(b, ["/c"]);
        var initiator = await Assert.ThrowsAsync<NegotiationFailedException>(() => SelectOneAsync(a, ["/a", "/b"]));
        Assert.Equal("multistream: the remote refused every proposed protocol ('/a', '/b')", initiator.Message);
        Assert.Equal(["/a", "/b"], initiator.Proposed);

        await a.Output.CompleteAsync(); // the initiator gives up and closes
        var responder = await Assert.ThrowsAsync<NegotiationFailedException>(() => handle);
        Assert.Equal("multistream: the remote closed without agreeing on a protocol (it proposed '/a', '/b'; we support '/c')", responder.Message);
        Assert.Equal(["/a", "/b"], responder.Proposed);
    }

    [Fact]
    public async Task ResponderAnswersLsWithTheFramedList()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        var handle = HandleAsync(b, ["/noise", "/yamux/1.0.0"]);
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("ls"));

        var expectedList = Concat([0x17], Msg("/noise"), Msg("/yamux/1.0.0"), "\n"u8.ToArray()); // 23 = 8 + 14 + 1
        Assert.Equal(Convert.ToHexStringLower(Concat(Msg("/multistream/1.0.0"), expectedList)),
            Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, 20 + 24)));

        await WriteAsync(remote.Output, Msg("/yamux/1.0.0"));
        Assert.Equal("/yamux/1.0.0", await handle);
        Assert.Equal(Convert.ToHexStringLower(Msg("/yamux/1.0.0")), Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, 14)));
    }

    [Fact]
    public async Task ResponderLeavesBytesAfterTheProposalForTheNextLayer()
    {
        // go's lazy select: header, proposal and the first application bytes in one packet.
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("/ipfs/id/1.0.0"), "\u0013app-bytes"u8.ToArray());
        Assert.Equal("/ipfs/id/1.0.0", await HandleAsync(b, ["/ipfs/id/1.0.0"]));
        Assert.Equal("\u0013app-bytes", await ReadStringAsync(b.Input, 10));
    }

    [Fact]
    public async Task InitiatorLeavesBytesAfterTheEchoForTheNextLayer()
    {
        var (a, remote) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("/noise"), "\u0000\u0020noise-msg1"u8.ToArray());
        Assert.Equal("/noise", await SelectOneAsync(a, ["/noise"]));
        Assert.Equal("\u0000\u0020noise-msg1", await ReadStringAsync(a.Input, 12));
    }

    [Fact]
    public async Task ResponderWritesItsHeaderAtOnceWhenNothingIsBuffered()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        var handle = HandleAsync(b, ["/noise"]);
        // Nothing sent yet, and the responder's header arrives anyway (go behaviour).
        Assert.Equal(Convert.ToHexStringLower(Msg("/multistream/1.0.0")), Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, 20)));
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("/noise"));
        Assert.Equal("/noise", await handle);
        Assert.Equal(Convert.ToHexStringLower(Msg("/noise")), Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, 8)));
    }

    [Fact]
    public async Task ResponderSendsHeaderAndEchoTogetherWhenTheProposalIsBuffered()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("/noise"));
        var counting = new FlushCountingPipe(b);
        Assert.Equal("/noise", await HandleAsync(counting, ["/noise"]));
        Assert.Equal(1, counting.Flushes);
        var read = await remote.Input.ReadAsync();
        Assert.Equal(Convert.ToHexStringLower(Concat(Msg("/multistream/1.0.0"), Msg("/noise"))), Convert.ToHexStringLower(read.Buffer.ToArray()));
    }

    [Fact]
    public async Task BothRolesCopeWithOneByteAtATime()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        var handle = HandleAsync(b, ["/noise"]);
        foreach (var octet in Concat(Msg("/multistream/1.0.0"), Msg("/tls/1.0.0"), Msg("/noise"), [0xAB]))
        {
            await WriteAsync(remote.Output, [octet]);
        }
        Assert.Equal("/noise", await handle);
        Assert.Equal([0xAB], await ReadExactlyAsync(b.Input, 1));
        var answers = Concat(Msg("/multistream/1.0.0"), Msg("na"), Msg("/noise"));
        Assert.Equal(Convert.ToHexStringLower(answers), Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, answers.Length)));

        var (a, remote2) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/tls/1.0.0", "/noise"]);
        foreach (var octet in answers.Append((byte)0xCD))
        {
            await WriteAsync(remote2.Output, [octet]);
        }
        Assert.Equal("/noise", await select);
        Assert.Equal([0xCD], await ReadExactlyAsync(a.Input, 1));
    }

    [Fact]
    public async Task WrongHeaderIsRejectedWithTheRemotesText()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, Msg("/multistream/2.0.0"), Msg("/noise"));
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => HandleAsync(b, ["/noise"]));
        Assert.Equal("multistream: the remote sent '/multistream/2.0.0' instead of the /multistream/1.0.0 header" + Hint, e.Message);
    }

    [Fact]
    public async Task GarbageInsteadOfTheHeaderFailsWithoutWaitingForMore()
    {
        // 0x55 announces an 85-byte message; a header check need not wait for it.
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, [0x55, 0xa0, 0x13, 0x07, 0xee, 0x01, 0x02, 0x03, 0x04]);
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => HandleAsync(b, ["/noise"]));
        Assert.Equal("multistream: the remote did not start with the /multistream/1.0.0 header (first bytes 55a01307ee010203...)" + Hint, e.Message);

        var (a, remote2) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/noise"]);
        await WriteAsync(remote2.Output, "\u0013/multistream/1.1"u8.ToArray()); // a wrong byte inside a plausible header
        var e2 = await Assert.ThrowsAsync<NegotiationFailedException>(() => select);
        Assert.Equal("multistream: the remote did not start with the /multistream/1.0.0 header (first bytes 132f6d756c746973...)" + Hint, e2.Message);
    }

    [Fact]
    public async Task MalformedHeaderMessageNamesTheProblemAndTheHint()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, [0xff, 0xff, 0x01]);
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => HandleAsync(b, ["/noise"]));
        Assert.Equal("multistream: message length 32767 exceeds the maximum of 1024 bytes" + Hint, e.Message);
    }

    [Fact]
    public async Task MalformedAnswerIsRejectedWithTheCodecMessage()
    {
        var (a, remote) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/noise"]);
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), [0x03, (byte)'n', (byte)'a', (byte)'!']);
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => select);
        Assert.Equal("multistream: message of 3 bytes does not end with a newline", e.Message);
    }

    [Fact]
    public async Task UnexpectedAnswerIsRejected()
    {
        var (a, remote) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/noise"]);
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"), Msg("/tls/1.0.0"));
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => select);
        Assert.Equal("multistream: the remote answered '/tls/1.0.0' to the proposal '/noise' (expected the echo or 'na')", e.Message);
        Assert.Equal(["/noise"], e.Proposed);
    }

    [Fact]
    public async Task InitiatorReportsRemoteCloseBeforeHeader()
    {
        var (a, remote) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/noise"]);
        await WriteAsync(remote.Output, "\u0013/multi"u8.ToArray());
        await remote.Output.CompleteAsync();
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => select);
        Assert.Equal("multistream: the remote closed before sending the /multistream/1.0.0 header" + Hint, e.Message);
    }

    [Fact]
    public async Task InitiatorReportsRemoteCloseBeforeAnswer()
    {
        var (a, remote) = DuplexPipe.CreatePair();
        var select = SelectOneAsync(a, ["/noise"]);
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"));
        await remote.Output.CompleteAsync();
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => select);
        Assert.Equal("multistream: the remote closed before answering the proposal '/noise'", e.Message);
    }

    [Fact]
    public async Task ResponderReportsCloseWithoutProposal()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, Msg("/multistream/1.0.0"));
        await remote.Output.CompleteAsync();
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => HandleAsync(b, ["/noise"]));
        Assert.Equal("multistream: the remote closed without proposing a protocol", e.Message);
    }

    [Fact]
    public async Task ResponderBoundsTheNumberOfProposals()
    {
        var (remote, b) = DuplexPipe.CreatePair();
        var messages = new List<byte[]> { Msg("/multistream/1.0.0") };
        messages.AddRange(Enumerable.Range(0, 33).Select(i => Msg($"/unknown/{i}")));
        await WriteAsync(remote.Output, messages.ToArray());
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => HandleAsync(b, ["/noise"]));
        Assert.Equal("multistream: the remote sent more than 32 proposals without agreeing on a protocol", e.Message);
        Assert.Equal(32, e.Proposed.Count);

        // It answered "na" to each of the 32 it considered.
        var expected = Concat([Msg("/multistream/1.0.0"), .. Enumerable.Repeat(Msg("na"), 32)]);
        Assert.Equal(Convert.ToHexStringLower(expected), Convert.ToHexStringLower(await ReadExactlyAsync(remote.Input, expected.Length)));
    }

    [Fact]
    public async Task TimeoutOverloadsFailWithNegotiationFailedOnFakeTime()
    {
        var time = new FakeTimeProvider();
        var (remote, b) = DuplexPipe.CreatePair();
        var handle = MultistreamSelect.HandleAsync(b, ["/noise"], TimeSpan.FromSeconds(10), time, CancellationToken.None).AsTask();
        await ReadExactlyAsync(remote.Input, 20); // header written; now waiting
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(handle.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<NegotiationFailedException>(() => handle.WaitAsync(Guard));
        Assert.Equal("multistream: the remote did not agree on a protocol within 10 s", e.Message);
        Assert.IsAssignableFrom<OperationCanceledException>(e.InnerException);

        var (a, _) = DuplexPipe.CreatePair();
        var select = MultistreamSelect.SelectOneAsync(a, ["/noise", "/tls/1.0.0"], TimeSpan.FromSeconds(2.5), time, CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        var e2 = await Assert.ThrowsAsync<NegotiationFailedException>(() => select.WaitAsync(Guard));
        Assert.Equal("multistream: no agreement within 2.5 s (proposing '/noise', '/tls/1.0.0')", e2.Message);
    }

    [Fact]
    public async Task CallerCancellationIsNotATimeout()
    {
        var (a, _) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource();
        var select = MultistreamSelect.SelectOneAsync(a, ["/noise"], TimeSpan.FromSeconds(10), new FakeTimeProvider(), cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => select.WaitAsync(Guard));
    }

    [Fact]
    public async Task RejectsEmptyLists()
    {
        var (a, b) = DuplexPipe.CreatePair();
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectOneAsync(a, [], CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.HandleAsync(b, Array.Empty<string>(), CancellationToken.None).AsTask());
    }

    internal static byte[] Msg(string message) => MultistreamMessage.Encode(message);

    private static Task<string> SelectOneAsync(IDuplexPipe pipe, string[] protocols) =>
        MultistreamSelect.SelectOneAsync(pipe, protocols, CancellationToken.None).AsTask().WaitAsync(Guard);

    private static Task<string> HandleAsync(IDuplexPipe pipe, string[] protocols) =>
        MultistreamSelect.HandleAsync(pipe, protocols, CancellationToken.None).AsTask().WaitAsync(Guard);

    private static async Task WriteAsync(PipeWriter writer, params byte[][] parts)
    {
        foreach (var part in parts)
        {
            writer.Write(part);
        }
        await writer.FlushAsync();
    }

    internal static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        while (true)
        {
            var result = await reader.ReadAsync().AsTask().WaitAsync(Guard);
            if (result.Buffer.Length >= count)
            {
                var bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            Assert.False(result.IsCompleted, $"ended after {result.Buffer.Length} of {count} bytes");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static async Task<string> ReadStringAsync(PipeReader reader, int count) => Encoding.UTF8.GetString(await ReadExactlyAsync(reader, count));

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Counts FlushAsync calls on the output.</summary>
    private sealed class FlushCountingPipe(IDuplexPipe inner) : IDuplexPipe
    {
        private readonly CountingWriter _output = new(inner.Output);

        public int Flushes => _output.Flushes;

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _output;

        private sealed class CountingWriter(PipeWriter inner) : PipeWriter
        {
            public int Flushes;

            public override void Advance(int bytes) => inner.Advance(bytes);

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref Flushes);
                return inner.FlushAsync(cancellationToken);
            }
        }
    }
}
