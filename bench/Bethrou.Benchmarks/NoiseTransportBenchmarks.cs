using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Benchmarks;

/// <summary>
/// Noise transport throughput through the real pumps over an in-memory link: 32 MiB per operation, written in
/// <see cref="WriteSize"/> pieces and read to the end on the other side (so each byte is encrypted once and decrypted
/// once). MB/s = 32 MiB / mean time. The inner (wire) pipes have 1 MiB pause thresholds, like a socket transport's.
/// </summary>
[MemoryDiagnoser]
public class NoiseTransportBenchmarks
{
    private const int TotalBytes = 32 << 20;

    private SecureConnection _initiator = null!;
    private SecureConnection _responder = null!;
    private byte[] _chunk = null!;

    [Params(16 * 1024, 256 * 1024)]
    public int WriteSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var wire = new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10, minimumSegmentSize: 64 << 10, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(wire, wire);
        var i = new NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
        var r = new NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
        var outbound = i.SecureOutboundAsync(a, null, CancellationToken.None).AsTask();
        var inbound = r.SecureInboundAsync(b, CancellationToken.None).AsTask();
        Task.WaitAll(outbound, inbound);
        _initiator = outbound.Result;
        _responder = inbound.Result;
        _chunk = new byte[WriteSize];
        Random.Shared.NextBytes(_chunk);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _initiator.Transport.Output.Complete();
        _responder.Transport.Output.Complete();
    }

    [Benchmark(Description = "one direction, 32 MiB")]
    public Task OneDirection() => Task.WhenAll(WriteAsync(_initiator.Transport.Output), DrainAsync(_responder.Transport.Input));

    [Benchmark(Description = "both directions, 32 MiB each")]
    public Task BothDirections() => Task.WhenAll(
        WriteAsync(_initiator.Transport.Output), DrainAsync(_responder.Transport.Input),
        WriteAsync(_responder.Transport.Output), DrainAsync(_initiator.Transport.Input));

    private async Task WriteAsync(PipeWriter output)
    {
        for (var sent = 0; sent < TotalBytes; sent += _chunk.Length)
        {
            await output.WriteAsync(_chunk);
        }
    }

    private static async Task DrainAsync(PipeReader input)
    {
        long received = 0;
        while (received < TotalBytes)
        {
            var result = await input.ReadAsync();
            var take = Math.Min(result.Buffer.Length, TotalBytes - received);
            received += take;
            input.AdvanceTo(result.Buffer.GetPosition(take));
        }
    }
}
