using System.Buffers;
using System.IO.Pipelines;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <summary>A yamux stream's Input.CopyToAsync(PipeWriter): each read's whole buffer, then one flush.</summary>
public class YamuxStreamCopyTests
{
    [Fact]
    public async Task CopyWritesAReadsWholeBufferThenFlushesOnce()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        var data = new byte[200 * 1024]; // under the initial window: all of it arrives without reading
        Random.Shared.NextBytes(data);

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync(data, ct);
        await c.Output.CompleteAsync();
        var s = (await server.AcceptStreamAsync(ct))!;

        // Wait until every byte and the FIN are buffered, without consuming them.
        ReadResult read;
        while (true)
        {
            read = await s.Input.ReadAsync(ct);
            if (read.IsCompleted && read.Buffer.Length == data.Length)
            {
                break;
            }
            s.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
        var segments = 0;
        foreach (var _ in read.Buffer)
        {
            segments++;
        }
        Assert.True(segments > 1, $"the stream buffered {data.Length} bytes in {segments} segment(s); the test needs several");
        s.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End);

        var destination = new RecordingWriter();
        await s.Input.CopyToAsync(destination, ct);

        Assert.Equal(1, destination.Flushes); // PipeReader's own CopyToAsync flushes once per segment
        Assert.Equal(data, destination.Written.WrittenSpan.ToArray());
    }

    [Fact]
    public async Task CopyFlushesEachReadAndEndsAtTheFin()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("first"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        var destination = new RecordingWriter();
        var copy = s.Input.CopyToAsync(destination, ct);
        await destination.WaitForFlushesAsync(1, ct);
        Assert.Equal("first"u8.ToArray(), destination.Written.WrittenSpan.ToArray());
        Assert.False(copy.IsCompleted);

        await c.Output.WriteAsync("second"u8.ToArray(), ct);
        await c.Output.CompleteAsync();
        await copy.WaitAsync(ct);
        Assert.Equal("firstsecond"u8.ToArray(), destination.Written.WrittenSpan.ToArray());
        Assert.Equal(2, destination.Flushes);
    }

    [Fact]
    public async Task CopyStopsWhenTheDestinationStopsAcceptingData()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("only this"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        var destination = new RecordingWriter { ReportCompleted = true };

        // The peer never half-closes: the copy ends because the destination's flush says it is done.
        await s.Input.CopyToAsync(destination, ct).WaitAsync(ct);
        Assert.Equal("only this"u8.ToArray(), destination.Written.WrittenSpan.ToArray());
        Assert.Equal(1, destination.Flushes);
    }

    [Fact]
    public async Task CopyThrowsWhenTheReadIsCanceledAndLeavesTheStreamReadable()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        var destination = new RecordingWriter();
        var copy = s.Input.CopyToAsync(destination, ct);
        await destination.WaitForFlushesAsync(1, ct);

        s.Input.CancelPendingRead();
        var error = await Assert.ThrowsAsync<OperationCanceledException>(() => copy.WaitAsync(ct));
        Assert.Equal("The read was canceled.", error.Message);

        await c.Output.WriteAsync("y"u8.ToArray(), ct);
        await c.Output.CompleteAsync();
        Assert.Equal("y"u8.ToArray(), await YamuxTest.ReadAllAsync(s.Input, ct));
    }

    /// <summary>Keeps what is written; counts flushes.</summary>
    private sealed class RecordingWriter : PipeWriter
    {
        private readonly Lock _lock = new();
        private TaskCompletionSource _flushed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _flushes;

        public ArrayBufferWriter<byte> Written { get; } = new();

        public bool ReportCompleted { get; init; }

        public int Flushes => Volatile.Read(ref _flushes);

        public async Task WaitForFlushesAsync(int count, CancellationToken ct)
        {
            while (true)
            {
                Task next;
                lock (_lock)
                {
                    if (_flushes >= count)
                    {
                        return;
                    }
                    next = _flushed.Task;
                }
                await next.WaitAsync(ct);
            }
        }

        public override void Advance(int bytes) => Written.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => Written.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => Written.GetSpan(sizeHint);

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            TaskCompletionSource done;
            lock (_lock)
            {
                _flushes++;
                done = _flushed;
                _flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            done.SetResult();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: ReportCompleted));
        }
    }
}
