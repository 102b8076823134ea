using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Benchmarks;

/// <summary>XSalsa20 keystream XOR: libsodium (P/Invoke into NSec's native library) against the managed SIMD code.
/// Run: dotnet run -c Release --project bench/Bethrou.Benchmarks -- --filter '*XSalsa20Benchmarks*'</summary>
[MemoryDiagnoser]
[MinColumn]
public class XSalsa20Benchmarks
{
    private byte[] _buffer = [];
    private XSalsa20Stream? _sodium;
    private XSalsa20Stream? _managed;

    [Params(1500, 16 * 1024, 64 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        _buffer = RandomNumberGenerator.GetBytes(Size);
        _sodium = new XSalsa20Stream(key, nonce, XSalsa20Implementation.Sodium);
        _managed = new XSalsa20Stream(key, nonce, XSalsa20Implementation.Managed);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sodium?.Dispose();
        _managed?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Sodium() => _sodium!.Transform(_buffer);

    [Benchmark]
    public void Managed() => _managed!.Transform(_buffer);
}
