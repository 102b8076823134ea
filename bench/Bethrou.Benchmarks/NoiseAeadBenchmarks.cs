using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using NSec.Cryptography;

namespace Bethrou.Benchmarks;

/// <summary>ChaCha20-Poly1305 on one full Noise frame (65519 plaintext bytes + 16-byte tag): BCL (OpenSSL) vs NSec (libsodium).</summary>
[MemoryDiagnoser]
public class NoiseAeadBenchmarks
{
    private const int PlaintextSize = 65519;
    private readonly byte[] _frame = new byte[PlaintextSize + 16];
    private readonly byte[] _sealed = new byte[PlaintextSize + 16];
    private readonly byte[] _opened = new byte[PlaintextSize];
    private readonly byte[] _nonce = new byte[12];
    private System.Security.Cryptography.ChaCha20Poly1305 _bcl = null!;
    private Key _nsec = null!;

    [GlobalSetup]
    public void Setup()
    {
        var key = new byte[32];
        RandomNumberGenerator.Fill(key);
        RandomNumberGenerator.Fill(_frame);
        _bcl = new System.Security.Cryptography.ChaCha20Poly1305(key);
        _nsec = Key.Import(AeadAlgorithm.ChaCha20Poly1305, key, KeyBlobFormat.RawSymmetricKey);
        // both produce identical output; seal once for the decrypt benchmarks
        _bcl.Encrypt(_nonce, _frame.AsSpan(0, PlaintextSize), _sealed.AsSpan(0, PlaintextSize), _sealed.AsSpan(PlaintextSize), default);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bcl.Dispose();
        _nsec.Dispose();
    }

    [Benchmark(Baseline = true, Description = "BCL encrypt 64K in place")]
    public void BclEncrypt()
    {
        var pt = _frame.AsSpan(0, PlaintextSize);
        _bcl.Encrypt(_nonce, pt, pt, _frame.AsSpan(PlaintextSize), default);
    }

    [Benchmark(Description = "NSec encrypt 64K in place")]
    public void NSecEncrypt() =>
        AeadAlgorithm.ChaCha20Poly1305.Encrypt(_nsec, _nonce, default, _frame.AsSpan(0, PlaintextSize), _frame);

    [Benchmark(Description = "BCL decrypt 64K")]
    public void BclDecrypt() =>
        _bcl.Decrypt(_nonce, _sealed.AsSpan(0, PlaintextSize), _sealed.AsSpan(PlaintextSize), _opened, default);

    [Benchmark(Description = "NSec decrypt 64K")]
    public bool NSecDecrypt() =>
        AeadAlgorithm.ChaCha20Poly1305.Decrypt(_nsec, _nonce, default, _sealed, _opened);
}
