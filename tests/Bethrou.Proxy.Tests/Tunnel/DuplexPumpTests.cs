using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Bethrou.Libp2p.Transport;
using Bethrou.Proxy.Tunnel;

namespace Bethrou.Proxy.Tests.Tunnel;

public class DuplexPumpTests
{
    // app A <-> (pumpA | pump | pumpB) <-> app B
    private static (IDuplexPipe AppA, IDuplexPipe PumpA, IDuplexPipe PumpB, IDuplexPipe AppB) CreateTopology()
    {
        var (appA, pumpA) = DuplexPipe.CreatePair();
        var (pumpB, appB) = DuplexPipe.CreatePair();
        return (appA, pumpA, pumpB, appB);
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var result = await reader.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                ms.Write(segment.Span);
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync();
                return ms.ToArray();
            }
        }
    }

    [Fact]
    public async Task Copies_both_ways_and_half_closes()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();

        await appA.Output.WriteAsync("request"u8.ToArray());
        await appA.Output.CompleteAsync(); // A half-closes

        // B sees the request and then end of stream ...
        Assert.Equal("request", Encoding.ASCII.GetString(await ReadToEndAsync(appB.Input)));
        Assert.False(pump.IsCompleted);

        // ... and can still answer: A receives the whole answer after its own half-close.
        var answer = new byte[3 * 1024 * 1024];
        new Random(3).NextBytes(answer);
        var reading = ReadToEndAsync(appA.Input);
        await appB.Output.WriteAsync(answer);
        await appB.Output.CompleteAsync();
        Assert.Equal(answer, await reading);

        var result = await pump;
        Assert.Equal(PumpStatus.Completed, result.Status);
        Assert.Equal(PumpSide.None, result.FailedSide);
        Assert.Null(result.Error);
        Assert.Equal(7, result.BytesAToB);
        Assert.Equal(answer.Length, result.BytesBToA);
    }

    [Fact]
    public async Task Empty_streams_complete()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        await appA.Output.CompleteAsync();
        await appB.Output.CompleteAsync();
        Assert.Empty(await ReadToEndAsync(appA.Input));
        Assert.Empty(await ReadToEndAsync(appB.Input));
        var result = await pump;
        Assert.Equal(new PumpResult(PumpStatus.Completed, PumpSide.None, 0, 0, null), result);
    }

    [Fact]
    public async Task Read_failure_on_one_side_aborts_the_other_direction()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        await appA.Output.WriteAsync("partial"u8.ToArray());
        // B's consumer sees the bytes that got through ...
        var read = await appB.Input.ReadAsync();
        Assert.Equal("partial", Encoding.ASCII.GetString(read.Buffer.ToArray()));
        appB.Input.AdvanceTo(read.Buffer.End);

        // The B->A direction is idle; A's input fails (a reset; a pipe completed with an error drops unread bytes).
        var reset = new IOException("connection reset");
        await appA.Output.CompleteAsync(reset);

        var result = await pump;
        Assert.Equal(PumpStatus.ReadFailed, result.Status);
        Assert.Equal(PumpSide.A, result.FailedSide);
        Assert.Same(reset, result.Error);
        Assert.Equal(7, result.BytesAToB);

        // ... then an abort (not a clean end of stream).
        var aborted = await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appB.Input.ReadAsync());
        Assert.Same(reset, aborted.InnerException);
        // A's side is aborted too.
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appA.Input.ReadAsync());
    }

    [Fact]
    public async Task Write_failure_is_reported_with_its_side()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        // B's consumer dies with an error: the next write towards B fails.
        var broken = new IOException("broken pipe");
        await appB.Input.CompleteAsync(broken);
        await appA.Output.WriteAsync("x"u8.ToArray());

        var result = await pump;
        Assert.Equal(PumpStatus.WriteFailed, result.Status);
        Assert.Equal(PumpSide.B, result.FailedSide);
        Assert.Same(broken, result.Error);
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appA.Input.ReadAsync());
    }

    [Fact]
    public async Task Consumer_gone_without_error_is_a_write_failure()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        await appB.Input.CompleteAsync();
        await appA.Output.WriteAsync("x"u8.ToArray());
        var result = await pump;
        Assert.Equal(PumpStatus.WriteFailed, result.Status);
        Assert.Equal(PumpSide.B, result.FailedSide);
        Assert.IsType<IOException>(result.Error);
    }

    [Fact]
    public async Task Cancellation_aborts_both_directions()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        using var cts = new CancellationTokenSource();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, cts.Token).AsTask();
        await appA.Output.WriteAsync("x"u8.ToArray());
        var first = await appB.Input.ReadAsync();
        appB.Input.AdvanceTo(first.Buffer.End);
        cts.Cancel();
        var result = await pump;
        Assert.Equal(PumpStatus.Canceled, result.Status);
        Assert.Equal(PumpSide.None, result.FailedSide);
        Assert.IsType<TunnelAbortedException>(result.Error);
        Assert.Equal(1, result.BytesAToB);
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appA.Input.ReadAsync());
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appB.Input.ReadAsync());
    }

    [Fact]
    public async Task Already_cancelled_token_aborts_at_once()
    {
        var (_, pumpA, pumpB, appB) = CreateTopology();
        var result = await DuplexPump.RunAsync(pumpA, pumpB, new CancellationToken(true));
        Assert.Equal(PumpStatus.Canceled, result.Status);
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appB.Input.ReadAsync());
    }

    [Fact]
    public async Task Failure_after_a_half_close_aborts_the_remaining_direction()
    {
        var (appA, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        await appA.Output.CompleteAsync(); // A->B done cleanly
        Assert.Empty(await ReadToEndAsync(appB.Input));
        await appB.Output.WriteAsync("y"u8.ToArray());
        var y = await appA.Input.ReadAsync();
        Assert.Equal(1, y.Buffer.Length);
        appA.Input.AdvanceTo(y.Buffer.End);
        var reset = new IOException("reset");
        await appB.Output.CompleteAsync(reset);
        var result = await pump;
        Assert.Equal(PumpStatus.ReadFailed, result.Status);
        Assert.Equal(PumpSide.B, result.FailedSide);
        Assert.Equal(1, result.BytesBToA);
    }

    [Fact]
    public async Task Large_multi_segment_transfer_is_exact()
    {
        var small = new PipeOptions(minimumSegmentSize: 512, pauseWriterThreshold: 8192, resumeWriterThreshold: 4096);
        var (appA, pumpA) = DuplexPipe.CreatePair(small, small);
        var (pumpB, appB) = DuplexPipe.CreatePair(small, small);
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        var data = new byte[1_000_003];
        new Random(5).NextBytes(data);
        var readB = Task.Run(() => ReadToEndAsync(appB.Input));
        var readA = Task.Run(() => ReadToEndAsync(appA.Input));
        for (var offset = 0; offset < data.Length; offset += 7_777)
        {
            await appA.Output.WriteAsync(data.AsMemory(offset, Math.Min(7_777, data.Length - offset)));
        }
        await appA.Output.CompleteAsync();
        await appB.Output.WriteAsync(data);
        await appB.Output.CompleteAsync();
        Assert.Equal(data, await readB);
        Assert.Equal(data, await readA);
        var result = await pump;
        Assert.Equal(PumpStatus.Completed, result.Status);
        Assert.Equal(data.Length, result.BytesAToB);
        Assert.Equal(data.Length, result.BytesBToA);
    }

    [Fact]
    public async Task A_read_cancelled_from_outside_tears_the_tunnel_down()
    {
        var (_, pumpA, pumpB, appB) = CreateTopology();
        var pump = DuplexPump.RunAsync(pumpA, pumpB, CancellationToken.None).AsTask();
        pumpA.Input.CancelPendingRead();
        var result = await pump;
        Assert.Equal(PumpStatus.Canceled, result.Status);
        await Assert.ThrowsAsync<TunnelAbortedException>(async () => await appB.Input.ReadAsync());
    }
}
