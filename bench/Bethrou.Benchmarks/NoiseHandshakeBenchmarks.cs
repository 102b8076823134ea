using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Benchmarks;

/// <summary>One full libp2p Noise XX handshake (both sides, in memory): 4 X25519 key agreements and 1 key generation
/// per side, one Ed25519 verify per side, and the transport pumps started and stopped.</summary>
[MemoryDiagnoser]
public class NoiseHandshakeBenchmarks
{
    private NoiseSecurityTransport _initiator = null!;
    private NoiseSecurityTransport _responder = null!;

    [GlobalSetup]
    public void Setup()
    {
        _initiator = new NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
        _responder = new NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
    }

    [Benchmark(Description = "XX handshake, both sides")]
    public async Task Handshake()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var outbound = _initiator.SecureOutboundAsync(a, null, CancellationToken.None).AsTask();
        var inbound = _responder.SecureInboundAsync(b, CancellationToken.None).AsTask();
        var i = await outbound;
        var r = await inbound;
        await i.Transport.Output.CompleteAsync();
        await r.Transport.Output.CompleteAsync();
    }
}
