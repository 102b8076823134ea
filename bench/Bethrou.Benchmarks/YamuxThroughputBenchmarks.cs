using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Benchmarks;

/// <summary>End-to-end yamux over an in-memory pipe pair: one stream carries 64 MiB one way per operation
/// (the application writes 64 KiB chunks; the receiver consumes everything it gets). MB/s = 64 MiB / Mean.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class YamuxThroughputBenchmarks
{
    private const long Total = 64L * 1024 * 1024;
    private static readonly byte[] Chunk = new byte[64 * 1024];
    private YamuxSession _client = null!;
    private YamuxSession _server = null!;

    [Params(16 * 1024, 64 * 1024, 256 * 1024)]
    public int MaxDataFrameSize { get; set; }

    [Params(1, 8)]
    public int Streams { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // The transport pipes get their own pool: with the shared ArrayPool they overflow its per-core cache under
        // eight busy streams and the garbage would be charged to yamux (a real transport is pnet/Noise anyway).
        var transportPool = new YamuxBlockPool(16 * 1024, 1024);
        var transport = new PipeOptions(pool: transportPool, minimumSegmentSize: 16 * 1024, pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(transport, transport);
        var options = new YamuxOptions { EnableKeepAlive = false, MaxDataFrameSize = MaxDataFrameSize };
        _client = new YamuxSession(a, isClient: true, options, NullLogger.Instance, TimeProvider.System);
        _server = new YamuxSession(b, isClient: false, options, NullLogger.Instance, TimeProvider.System);
        _client.Start();
        _server.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.CloseAsync().AsTask().GetAwaiter().GetResult();
        _server.CloseAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public async Task<long> Transfer64MiB()
    {
        var tasks = new Task<long>[Streams];
        for (var i = 0; i < Streams; i++)
        {
            tasks[i] = OneStreamAsync(Total / Streams);
        }
        long total = 0;
        foreach (var t in await Task.WhenAll(tasks))
        {
            total += t;
        }
        return total;
    }

    private async Task<long> OneStreamAsync(long bytes)
    {
        var stream = await _client.OpenStreamAsync(CancellationToken.None);
        var send = Task.Run(async () =>
        {
            for (long sent = 0; sent < bytes; sent += Chunk.Length)
            {
                await stream.Output.WriteAsync(Chunk);
            }
            await stream.Output.CompleteAsync();
        });
        var accepted = await _server.AcceptStreamAsync(CancellationToken.None) ?? throw new InvalidOperationException("session closed");
        var received = await DrainAsync(accepted.Input);
        await send;
        await accepted.Output.CompleteAsync();
        await DrainAsync(stream.Input);
        return received;
    }

    private static async Task<long> DrainAsync(PipeReader reader)
    {
        long received = 0;
        while (true)
        {
            var result = await reader.ReadAsync();
            received += result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync();
                return received;
            }
        }
    }
}

/// <summary>Memory of 1,000 idle streams on one connection (both ends): Allocated is what opening, accepting and
/// ACKing 1,000 streams costs; the retained heap growth is printed by the Bethrou.Libp2p test
/// ThousandIdleStreamsStayCheap.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class YamuxIdleStreamsBenchmarks
{
    [Benchmark]
    public async Task<int> OpenAndAccept1000Streams()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false, AcceptBacklog = 1000 };
        var client = new YamuxSession(a, isClient: true, options, NullLogger.Instance, TimeProvider.System);
        var server = new YamuxSession(b, isClient: false, options, NullLogger.Instance, TimeProvider.System);
        client.Start();
        server.Start();
        for (var i = 0; i < 1000; i++)
        {
            await client.OpenStreamAsync(CancellationToken.None);
        }
        for (var i = 0; i < 1000; i++)
        {
            await server.AcceptStreamAsync(CancellationToken.None);
        }
        await client.PingAsync(CancellationToken.None);
        var count = client.OpenStreamCount + server.OpenStreamCount;
        await client.CloseAsync();
        await server.CloseAsync();
        return count;
    }
}
