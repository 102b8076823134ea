using System.Security.Cryptography;

namespace Bethrou.Libp2p.Pnet;

/// <summary>Which Salsa20 block function an <see cref="XSalsa20Stream"/> uses.</summary>
internal enum XSalsa20Implementation
{
    /// <summary>libsodium's <c>crypto_stream_salsa20_xor_ic</c> (CPU-dispatched SSE2/AVX2 code).</summary>
    Sodium,

    /// <summary>The managed <see cref="Salsa20"/> (Vector512/256/128 kernels, scalar fallback).</summary>
    Managed,
}

/// <summary>A stateful XSalsa20 stream cipher: XORs data of any length with one continuous keystream
/// (HSalsa20 subkey from nonce[0..16], then Salsa20/20 with nonce[16..24] and a 64-bit block counter from 0).
/// Not thread-safe; one instance per direction.</summary>
internal sealed class XSalsa20Stream : IDisposable
{
    public const int KeySize = 32;
    public const int NonceSize = 24;

    private const int BlockSize = Salsa20.BlockSize;

    private readonly XSalsa20Implementation _implementation;
    private readonly byte[] _subkey = new byte[KeySize];
    private readonly byte[] _nonce8 = new byte[8];
    private readonly uint[] _state = new uint[16];
    private readonly byte[] _block = new byte[BlockSize]; // keystream of block _counter - 1 when _blockOffset < 64
    private int _blockOffset = BlockSize;
    private ulong _counter;

    public XSalsa20Stream(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce)
        : this(key, nonce, DefaultImplementation)
    {
    }

    public XSalsa20Stream(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, XSalsa20Implementation implementation)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"XSalsa20 key must be {KeySize} bytes, got {key.Length}", nameof(key));
        }
        if (nonce.Length != NonceSize)
        {
            throw new ArgumentException($"XSalsa20 nonce must be {NonceSize} bytes, got {nonce.Length}", nameof(nonce));
        }
        if (implementation == XSalsa20Implementation.Sodium && !Sodium.IsAvailable)
        {
            throw new PlatformNotSupportedException("libsodium could not be loaded");
        }
        _implementation = implementation;
        Salsa20.HSalsa20(key, nonce[..16], _subkey);
        nonce[16..].CopyTo(_nonce8);
        Salsa20.InitState(_state, _subkey, _nonce8);
    }

    /// <summary>The implementation used when none is named. On x86/x64 the managed SIMD code (bench
    /// XSalsa20Benchmarks: about 1.1-1.8x the speed of libsodium's AVX2 code on a 2-vCPU AMD EPYC with AVX-512, and ahead with
    /// AVX-512 disabled too); elsewhere the managed code has only a scalar path, so libsodium when it loads.</summary>
    public static XSalsa20Implementation DefaultImplementation { get; } = ChooseDefault();

    public XSalsa20Implementation Implementation => _implementation;

    /// <summary>Number of keystream bytes used so far.</summary>
    public ulong Position => (_counter * BlockSize) - (ulong)(BlockSize - _blockOffset);

    /// <summary>destination[i] = source[i] XOR keystream[position + i]; the keystream position advances by source.Length.
    /// Source and destination may be the same memory (in place) but must not otherwise overlap.</summary>
    public void Transform(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("destination is shorter than source", nameof(destination));
        }
        var length = source.Length;
        var done = 0;
        if (_blockOffset < BlockSize && length > 0)
        {
            // Finish the block we started last call.
            done = Math.Min(BlockSize - _blockOffset, length);
            Salsa20.XorBytes(source[..done], _block.AsSpan(_blockOffset, done), destination);
            _blockOffset += done;
        }
        var whole = (length - done) & ~(BlockSize - 1);
        if (whole > 0)
        {
            XorBlocks(source.Slice(done, whole), destination.Slice(done, whole), _counter);
            _counter += (ulong)(whole / BlockSize);
            done += whole;
        }
        if (done < length)
        {
            // A partial last block: keep the rest of its keystream for the next call.
            KeystreamBlock(_counter, _block);
            _counter++;
            var rest = length - done;
            Salsa20.XorBytes(source[done..], _block.AsSpan(0, rest), destination[done..]);
            _blockOffset = rest;
        }
    }

    /// <summary>XORs in place.</summary>
    public void Transform(Span<byte> buffer) => Transform(buffer, buffer);

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_subkey);
        CryptographicOperations.ZeroMemory(_block);
        Array.Clear(_state);
        _blockOffset = BlockSize;
    }

    public override string ToString() => $"XSalsa20Stream({_implementation}, position {Position})";

    private void XorBlocks(ReadOnlySpan<byte> source, Span<byte> destination, ulong counter)
    {
        if (_implementation == XSalsa20Implementation.Sodium)
        {
            Sodium.Salsa20XorIc(source, destination, _nonce8, counter, _subkey);
        }
        else
        {
            Salsa20.XorBlocks(_state, counter, source, destination);
        }
    }

    private void KeystreamBlock(ulong counter, Span<byte> block)
    {
        // One block is cheap either way; the managed code avoids a P/Invoke and a zero-fill.
        Salsa20.KeystreamBlock(_state, counter, block);
    }

    private static XSalsa20Implementation ChooseDefault() =>
        System.Runtime.Intrinsics.X86.Sse2.IsSupported || !Sodium.IsAvailable ? XSalsa20Implementation.Managed : XSalsa20Implementation.Sodium;
}
