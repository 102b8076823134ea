using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Security.Noise;
using NSec.Cryptography;

namespace Bethrou.Benchmarks;

/// <summary>ChaCha20-Poly1305 on one full Noise frame (65519 plaintext bytes + 16-byte tag): BCL (OpenSSL) vs NSec
/// (libsodium); and how a frame made of a 12-byte yamux header and a payload kept elsewhere is sealed: copied together,
/// then the BCL's one-shot in place (the fallback path) vs OpenSSL's EVP interface fed piece by piece from where the
/// bytes are (<see cref="OpenSslChaChaPoly"/>, the path on Linux).</summary>
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
    private OpenSslChaChaPoly _evp = null!;
    private ChaChaPolyVerifier _verifier = null!;
    private readonly byte[] _small = new byte[100 + 16];
    private readonly byte[] _smallOpened = new byte[100];
    private readonly byte[] _header = new byte[12];
    private readonly byte[] _payload = new byte[PlaintextSize - 12];

    [GlobalSetup]
    public void Setup()
    {
        var key = new byte[32];
        RandomNumberGenerator.Fill(key);
        RandomNumberGenerator.Fill(_frame);
        _bcl = new System.Security.Cryptography.ChaCha20Poly1305(key);
        _nsec = Key.Import(AeadAlgorithm.ChaCha20Poly1305, key, KeyBlobFormat.RawSymmetricKey);
        _evp = new OpenSslChaChaPoly(key);
        _verifier = new ChaChaPolyVerifier(key);
        RandomNumberGenerator.Fill(_small);
        _bcl.Encrypt(_nonce, _small.AsSpan(0, 100), _small.AsSpan(0, 100), _small.AsSpan(100), default);
        RandomNumberGenerator.Fill(_payload);
        // both produce identical output; seal once for the decrypt benchmarks
        _bcl.Encrypt(_nonce, _frame.AsSpan(0, PlaintextSize), _sealed.AsSpan(0, PlaintextSize), _sealed.AsSpan(PlaintextSize), default);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bcl.Dispose();
        _nsec.Dispose();
        _evp.Dispose();
        _verifier.Dispose();
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

    [Benchmark(Description = "header+payload: copy, then BCL in place")]
    public void CopyThenBclEncrypt()
    {
        _header.CopyTo(_frame, 0);
        _payload.CopyTo(_frame, 12);
        var pt = _frame.AsSpan(0, PlaintextSize);
        _bcl.Encrypt(_nonce, pt, pt, _frame.AsSpan(PlaintextSize), default);
    }

    [Benchmark(Description = "header+payload: EVP from the pieces")]
    public void EvpEncryptFromPieces()
    {
        _evp.Begin(_nonce, encrypt: true, default);
        _evp.Update(_header, _frame.AsSpan(0, 12));
        _evp.Update(_payload, _frame.AsSpan(12, _payload.Length));
        _evp.FinishEncrypt(_frame.AsSpan(PlaintextSize));
    }

    [Benchmark(Description = "EVP decrypt 64K")]
    public bool EvpDecrypt()
    {
        _evp.Begin(_nonce, encrypt: false, default);
        _evp.Update(_sealed.AsSpan(0, PlaintextSize), _opened);
        return _evp.FinishDecrypt(_sealed.AsSpan(PlaintextSize));
    }

    [Benchmark(Description = "verify-first open 64K (tag, then decrypt)")]
    public void VerifyFirstOpen()
    {
        if (!_verifier.Verify(new System.Buffers.ReadOnlySequence<byte>(_sealed, 0, PlaintextSize), _sealed.AsSpan(PlaintextSize), _nonce))
        {
            throw new CryptographicException("tag mismatch");
        }
        _verifier.Decrypt(_sealed.AsSpan(0, PlaintextSize), _opened);
        _verifier.End();
    }

    [Benchmark(Description = "EVP decrypt 100 B")]
    public bool EvpDecryptSmall()
    {
        _evp.Begin(_nonce, encrypt: false, default);
        _evp.Update(_small.AsSpan(0, 100), _smallOpened);
        return _evp.FinishDecrypt(_small.AsSpan(100));
    }

    [Benchmark(Description = "verify-first open 100 B")]
    public void VerifyFirstOpenSmall()
    {
        if (!_verifier.Verify(new System.Buffers.ReadOnlySequence<byte>(_small, 0, 100), _small.AsSpan(100), _nonce))
        {
            throw new CryptographicException("tag mismatch");
        }
        _verifier.Decrypt(_small.AsSpan(0, 100), _smallOpened);
        _verifier.End();
    }
}
