// Salsa20/20 and HSalsa20 in plain C# with SIMD (Vector128/256/512) multi-block kernels.
// Written from the Salsa20 specification (D. J. Bernstein, "Salsa20 specification", 2005) and
// "Extending the Salsa20 nonce" (XSalsa20/HSalsa20, 2008). The round sequences are generated
// mechanically from the spec's quarter-round table (columns then rows).
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Bethrou.Libp2p.Pnet;

/// <summary>Managed Salsa20/20 core. The state layout is the spec's: constants at words 0, 5, 10, 15,
/// key at 1-4 and 11-14, nonce at 6-7, block counter at 8-9 (low, high).</summary>
internal static class Salsa20
{
    public const int BlockSize = 64;

    // "expand 32-byte k" as four little-endian words.
    private const uint Sigma0 = 0x61707865;
    private const uint Sigma1 = 0x3320646e;
    private const uint Sigma2 = 0x79622d32;
    private const uint Sigma3 = 0x6b206574;

    /// <summary>Initial state for a 32-byte key and an 8-byte nonce; the counter words (8, 9) are left 0.</summary>
    public static void InitState(Span<uint> state, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("Salsa20 key must be 32 bytes", nameof(key));
        }
        if (nonce8.Length != 8)
        {
            throw new ArgumentException("Salsa20 nonce must be 8 bytes", nameof(nonce8));
        }
        state[0] = Sigma0;
        state[1] = BinaryPrimitives.ReadUInt32LittleEndian(key);
        state[2] = BinaryPrimitives.ReadUInt32LittleEndian(key[4..]);
        state[3] = BinaryPrimitives.ReadUInt32LittleEndian(key[8..]);
        state[4] = BinaryPrimitives.ReadUInt32LittleEndian(key[12..]);
        state[5] = Sigma1;
        state[6] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8);
        state[7] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8[4..]);
        state[8] = 0;
        state[9] = 0;
        state[10] = Sigma2;
        state[11] = BinaryPrimitives.ReadUInt32LittleEndian(key[16..]);
        state[12] = BinaryPrimitives.ReadUInt32LittleEndian(key[20..]);
        state[13] = BinaryPrimitives.ReadUInt32LittleEndian(key[24..]);
        state[14] = BinaryPrimitives.ReadUInt32LittleEndian(key[28..]);
        state[15] = Sigma3;
    }

    /// <summary>HSalsa20: derives the XSalsa20 subkey from a 32-byte key and the first 16 nonce bytes.</summary>
    public static void HSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce16, Span<byte> subkey)
    {
        if (nonce16.Length != 16)
        {
            throw new ArgumentException("HSalsa20 input must be 16 bytes", nameof(nonce16));
        }
        Span<uint> s = stackalloc uint[16];
        InitState(s, key, nonce16[..8]);
        s[8] = BinaryPrimitives.ReadUInt32LittleEndian(nonce16[8..]);
        s[9] = BinaryPrimitives.ReadUInt32LittleEndian(nonce16[12..]);
        var x0 = s[0]; var x1 = s[1]; var x2 = s[2]; var x3 = s[3]; var x4 = s[4]; var x5 = s[5]; var x6 = s[6]; var x7 = s[7]; var x8 = s[8]; var x9 = s[9]; var x10 = s[10]; var x11 = s[11]; var x12 = s[12]; var x13 = s[13]; var x14 = s[14]; var x15 = s[15];
        for (var round = 0; round < 10; round++)
        {
            x4 ^= BitOperations.RotateLeft(x0 + x12, 7);
            x8 ^= BitOperations.RotateLeft(x4 + x0, 9);
            x12 ^= BitOperations.RotateLeft(x8 + x4, 13);
            x0 ^= BitOperations.RotateLeft(x12 + x8, 18);
            x9 ^= BitOperations.RotateLeft(x5 + x1, 7);
            x13 ^= BitOperations.RotateLeft(x9 + x5, 9);
            x1 ^= BitOperations.RotateLeft(x13 + x9, 13);
            x5 ^= BitOperations.RotateLeft(x1 + x13, 18);
            x14 ^= BitOperations.RotateLeft(x10 + x6, 7);
            x2 ^= BitOperations.RotateLeft(x14 + x10, 9);
            x6 ^= BitOperations.RotateLeft(x2 + x14, 13);
            x10 ^= BitOperations.RotateLeft(x6 + x2, 18);
            x3 ^= BitOperations.RotateLeft(x15 + x11, 7);
            x7 ^= BitOperations.RotateLeft(x3 + x15, 9);
            x11 ^= BitOperations.RotateLeft(x7 + x3, 13);
            x15 ^= BitOperations.RotateLeft(x11 + x7, 18);
            x1 ^= BitOperations.RotateLeft(x0 + x3, 7);
            x2 ^= BitOperations.RotateLeft(x1 + x0, 9);
            x3 ^= BitOperations.RotateLeft(x2 + x1, 13);
            x0 ^= BitOperations.RotateLeft(x3 + x2, 18);
            x6 ^= BitOperations.RotateLeft(x5 + x4, 7);
            x7 ^= BitOperations.RotateLeft(x6 + x5, 9);
            x4 ^= BitOperations.RotateLeft(x7 + x6, 13);
            x5 ^= BitOperations.RotateLeft(x4 + x7, 18);
            x11 ^= BitOperations.RotateLeft(x10 + x9, 7);
            x8 ^= BitOperations.RotateLeft(x11 + x10, 9);
            x9 ^= BitOperations.RotateLeft(x8 + x11, 13);
            x10 ^= BitOperations.RotateLeft(x9 + x8, 18);
            x12 ^= BitOperations.RotateLeft(x15 + x14, 7);
            x13 ^= BitOperations.RotateLeft(x12 + x15, 9);
            x14 ^= BitOperations.RotateLeft(x13 + x12, 13);
            x15 ^= BitOperations.RotateLeft(x14 + x13, 18);
        }
        // No feed-forward: output words 0, 5, 10, 15 (constant positions) and 6-9 (nonce positions).
        BinaryPrimitives.WriteUInt32LittleEndian(subkey, x0);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[4..], x5);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[8..], x10);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[12..], x15);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[16..], x6);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[20..], x7);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[24..], x8);
        BinaryPrimitives.WriteUInt32LittleEndian(subkey[28..], x9);
        s.Clear();
    }

    /// <summary>Writes the 64-byte keystream block number <paramref name="counter"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // SIMD kernels: no slow tier-0 phase
    public static void KeystreamBlock(ReadOnlySpan<uint> state, ulong counter, Span<byte> block)
    {
        var x0 = state[0]; var x1 = state[1]; var x2 = state[2]; var x3 = state[3]; var x4 = state[4]; var x5 = state[5]; var x6 = state[6]; var x7 = state[7]; var x10 = state[10]; var x11 = state[11]; var x12 = state[12]; var x13 = state[13]; var x14 = state[14]; var x15 = state[15];
        var x8 = (uint)counter;
        var x9 = (uint)(counter >> 32);
        for (var round = 0; round < 10; round++)
        {
            x4 ^= BitOperations.RotateLeft(x0 + x12, 7);
            x8 ^= BitOperations.RotateLeft(x4 + x0, 9);
            x12 ^= BitOperations.RotateLeft(x8 + x4, 13);
            x0 ^= BitOperations.RotateLeft(x12 + x8, 18);
            x9 ^= BitOperations.RotateLeft(x5 + x1, 7);
            x13 ^= BitOperations.RotateLeft(x9 + x5, 9);
            x1 ^= BitOperations.RotateLeft(x13 + x9, 13);
            x5 ^= BitOperations.RotateLeft(x1 + x13, 18);
            x14 ^= BitOperations.RotateLeft(x10 + x6, 7);
            x2 ^= BitOperations.RotateLeft(x14 + x10, 9);
            x6 ^= BitOperations.RotateLeft(x2 + x14, 13);
            x10 ^= BitOperations.RotateLeft(x6 + x2, 18);
            x3 ^= BitOperations.RotateLeft(x15 + x11, 7);
            x7 ^= BitOperations.RotateLeft(x3 + x15, 9);
            x11 ^= BitOperations.RotateLeft(x7 + x3, 13);
            x15 ^= BitOperations.RotateLeft(x11 + x7, 18);
            x1 ^= BitOperations.RotateLeft(x0 + x3, 7);
            x2 ^= BitOperations.RotateLeft(x1 + x0, 9);
            x3 ^= BitOperations.RotateLeft(x2 + x1, 13);
            x0 ^= BitOperations.RotateLeft(x3 + x2, 18);
            x6 ^= BitOperations.RotateLeft(x5 + x4, 7);
            x7 ^= BitOperations.RotateLeft(x6 + x5, 9);
            x4 ^= BitOperations.RotateLeft(x7 + x6, 13);
            x5 ^= BitOperations.RotateLeft(x4 + x7, 18);
            x11 ^= BitOperations.RotateLeft(x10 + x9, 7);
            x8 ^= BitOperations.RotateLeft(x11 + x10, 9);
            x9 ^= BitOperations.RotateLeft(x8 + x11, 13);
            x10 ^= BitOperations.RotateLeft(x9 + x8, 18);
            x12 ^= BitOperations.RotateLeft(x15 + x14, 7);
            x13 ^= BitOperations.RotateLeft(x12 + x15, 9);
            x14 ^= BitOperations.RotateLeft(x13 + x12, 13);
            x15 ^= BitOperations.RotateLeft(x14 + x13, 18);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[0..], x0 + state[0]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], x1 + state[1]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[8..], x2 + state[2]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], x3 + state[3]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[16..], x4 + state[4]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[20..], x5 + state[5]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[24..], x6 + state[6]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[28..], x7 + state[7]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[32..], x8 + (uint)counter);
        BinaryPrimitives.WriteUInt32LittleEndian(block[36..], x9 + (uint)(counter >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(block[40..], x10 + state[10]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[44..], x11 + state[11]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[48..], x12 + state[12]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[52..], x13 + state[13]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[56..], x14 + state[14]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[60..], x15 + state[15]);
    }

    /// <summary>XORs whole keystream blocks starting at block <paramref name="counter"/> into
    /// <paramref name="destination"/>. <paramref name="source"/>'s length must be a multiple of 64;
    /// source and destination may be the same memory, but must not otherwise overlap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // SIMD kernels: no slow tier-0 phase
    public static void XorBlocks(ReadOnlySpan<uint> state, ulong counter, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if ((source.Length & (BlockSize - 1)) != 0)
        {
            throw new ArgumentException("length must be a multiple of 64", nameof(source));
        }
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("destination is shorter than source", nameof(destination));
        }
        var blocks = source.Length / BlockSize;
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var done = 0;
        if (BitConverter.IsLittleEndian)
        {
            if (Avx512F.IsSupported && blocks >= 16)
            {
                done += XorBlocks512(state, counter, ref src, ref dst, blocks);
            }
            if (Avx2.IsSupported && blocks - done >= 8)
            {
                var offset = (nuint)done * BlockSize;
                done += XorBlocks256(state, counter + (ulong)done, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset), blocks - done);
            }
            if (Sse2.IsSupported && blocks - done >= 4)
            {
                var offset = (nuint)done * BlockSize;
                done += XorBlocks128(state, counter + (ulong)done, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset), blocks - done);
            }
        }
        Span<byte> block = stackalloc byte[BlockSize];
        for (; done < blocks; done++)
        {
            KeystreamBlock(state, counter + (ulong)done, block);
            var offset = done * BlockSize;
            XorBytes(source.Slice(offset, BlockSize), block, destination.Slice(offset, BlockSize));
        }
    }

    /// <summary>destination = a XOR b over a.Length bytes (destination may alias a).</summary>
    public static void XorBytes(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> destination)
    {
        var i = 0;
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rd = ref MemoryMarshal.GetReference(destination);
        for (; i + 16 <= a.Length; i += 16)
        {
            (Vector128.LoadUnsafe(ref ra, (nuint)i) ^ Vector128.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < a.Length; i++)
        {
            Unsafe.Add(ref rd, i) = (byte)(Unsafe.Add(ref ra, i) ^ Unsafe.Add(ref rb, i));
        }
    }

    /// <summary>16 blocks at a time, one block per 512-bit lane group (word i of block k in lane k of x_i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // SIMD kernels: no slow tier-0 phase
    private static int XorBlocks512(ReadOnlySpan<uint> state, ulong counter, ref byte src, ref byte dst, int blocks)
    {
        var s0 = Vector512.Create(state[0]);
        var s1 = Vector512.Create(state[1]);
        var s2 = Vector512.Create(state[2]);
        var s3 = Vector512.Create(state[3]);
        var s4 = Vector512.Create(state[4]);
        var s5 = Vector512.Create(state[5]);
        var s6 = Vector512.Create(state[6]);
        var s7 = Vector512.Create(state[7]);
        var s10 = Vector512.Create(state[10]);
        var s11 = Vector512.Create(state[11]);
        var s12 = Vector512.Create(state[12]);
        var s13 = Vector512.Create(state[13]);
        var s14 = Vector512.Create(state[14]);
        var s15 = Vector512.Create(state[15]);
        var done = 0;
        while (blocks - done >= 16)
        {
            var counterLow = Vector512.Create((uint)counter);
            var s8 = counterLow + Vector512<uint>.Indices;
            var s9 = Vector512.Create((uint)(counter >> 32)) - Vector512.LessThan(s8, counterLow); // carry: mask is all ones (= -1)
            var x0 = s0; var x1 = s1; var x2 = s2; var x3 = s3; var x4 = s4; var x5 = s5; var x6 = s6; var x7 = s7; var x8 = s8; var x9 = s9; var x10 = s10; var x11 = s11; var x12 = s12; var x13 = s13; var x14 = s14; var x15 = s15;
            for (var round = 0; round < 10; round++)
            {
                x4 ^= Avx512F.RotateLeft(x0 + x12, 7);
                x8 ^= Avx512F.RotateLeft(x4 + x0, 9);
                x12 ^= Avx512F.RotateLeft(x8 + x4, 13);
                x0 ^= Avx512F.RotateLeft(x12 + x8, 18);
                x9 ^= Avx512F.RotateLeft(x5 + x1, 7);
                x13 ^= Avx512F.RotateLeft(x9 + x5, 9);
                x1 ^= Avx512F.RotateLeft(x13 + x9, 13);
                x5 ^= Avx512F.RotateLeft(x1 + x13, 18);
                x14 ^= Avx512F.RotateLeft(x10 + x6, 7);
                x2 ^= Avx512F.RotateLeft(x14 + x10, 9);
                x6 ^= Avx512F.RotateLeft(x2 + x14, 13);
                x10 ^= Avx512F.RotateLeft(x6 + x2, 18);
                x3 ^= Avx512F.RotateLeft(x15 + x11, 7);
                x7 ^= Avx512F.RotateLeft(x3 + x15, 9);
                x11 ^= Avx512F.RotateLeft(x7 + x3, 13);
                x15 ^= Avx512F.RotateLeft(x11 + x7, 18);
                x1 ^= Avx512F.RotateLeft(x0 + x3, 7);
                x2 ^= Avx512F.RotateLeft(x1 + x0, 9);
                x3 ^= Avx512F.RotateLeft(x2 + x1, 13);
                x0 ^= Avx512F.RotateLeft(x3 + x2, 18);
                x6 ^= Avx512F.RotateLeft(x5 + x4, 7);
                x7 ^= Avx512F.RotateLeft(x6 + x5, 9);
                x4 ^= Avx512F.RotateLeft(x7 + x6, 13);
                x5 ^= Avx512F.RotateLeft(x4 + x7, 18);
                x11 ^= Avx512F.RotateLeft(x10 + x9, 7);
                x8 ^= Avx512F.RotateLeft(x11 + x10, 9);
                x9 ^= Avx512F.RotateLeft(x8 + x11, 13);
                x10 ^= Avx512F.RotateLeft(x9 + x8, 18);
                x12 ^= Avx512F.RotateLeft(x15 + x14, 7);
                x13 ^= Avx512F.RotateLeft(x12 + x15, 9);
                x14 ^= Avx512F.RotateLeft(x13 + x12, 13);
                x15 ^= Avx512F.RotateLeft(x14 + x13, 18);
            }
            x0 += s0; x1 += s1; x2 += s2; x3 += s3; x4 += s4; x5 += s5; x6 += s6; x7 += s7; x8 += s8; x9 += s9; x10 += s10; x11 += s11; x12 += s12; x13 += s13; x14 += s14; x15 += s15;
            var offset = (nuint)done * 64;
            Output512(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset));
            counter += 16;
            done += 16;
        }
        return done;
    }

    /// <summary>8 blocks at a time, one block per 256-bit lane group (word i of block k in lane k of x_i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // SIMD kernels: no slow tier-0 phase
    private static int XorBlocks256(ReadOnlySpan<uint> state, ulong counter, ref byte src, ref byte dst, int blocks)
    {
        var s0 = Vector256.Create(state[0]);
        var s1 = Vector256.Create(state[1]);
        var s2 = Vector256.Create(state[2]);
        var s3 = Vector256.Create(state[3]);
        var s4 = Vector256.Create(state[4]);
        var s5 = Vector256.Create(state[5]);
        var s6 = Vector256.Create(state[6]);
        var s7 = Vector256.Create(state[7]);
        var s10 = Vector256.Create(state[10]);
        var s11 = Vector256.Create(state[11]);
        var s12 = Vector256.Create(state[12]);
        var s13 = Vector256.Create(state[13]);
        var s14 = Vector256.Create(state[14]);
        var s15 = Vector256.Create(state[15]);
        var done = 0;
        while (blocks - done >= 8)
        {
            var counterLow = Vector256.Create((uint)counter);
            var s8 = counterLow + Vector256<uint>.Indices;
            var s9 = Vector256.Create((uint)(counter >> 32)) - Vector256.LessThan(s8, counterLow); // carry: mask is all ones (= -1)
            var x0 = s0; var x1 = s1; var x2 = s2; var x3 = s3; var x4 = s4; var x5 = s5; var x6 = s6; var x7 = s7; var x8 = s8; var x9 = s9; var x10 = s10; var x11 = s11; var x12 = s12; var x13 = s13; var x14 = s14; var x15 = s15;
            for (var round = 0; round < 10; round++)
            {
                x4 ^= Rotl(x0 + x12, 7);
                x8 ^= Rotl(x4 + x0, 9);
                x12 ^= Rotl(x8 + x4, 13);
                x0 ^= Rotl(x12 + x8, 18);
                x9 ^= Rotl(x5 + x1, 7);
                x13 ^= Rotl(x9 + x5, 9);
                x1 ^= Rotl(x13 + x9, 13);
                x5 ^= Rotl(x1 + x13, 18);
                x14 ^= Rotl(x10 + x6, 7);
                x2 ^= Rotl(x14 + x10, 9);
                x6 ^= Rotl(x2 + x14, 13);
                x10 ^= Rotl(x6 + x2, 18);
                x3 ^= Rotl(x15 + x11, 7);
                x7 ^= Rotl(x3 + x15, 9);
                x11 ^= Rotl(x7 + x3, 13);
                x15 ^= Rotl(x11 + x7, 18);
                x1 ^= Rotl(x0 + x3, 7);
                x2 ^= Rotl(x1 + x0, 9);
                x3 ^= Rotl(x2 + x1, 13);
                x0 ^= Rotl(x3 + x2, 18);
                x6 ^= Rotl(x5 + x4, 7);
                x7 ^= Rotl(x6 + x5, 9);
                x4 ^= Rotl(x7 + x6, 13);
                x5 ^= Rotl(x4 + x7, 18);
                x11 ^= Rotl(x10 + x9, 7);
                x8 ^= Rotl(x11 + x10, 9);
                x9 ^= Rotl(x8 + x11, 13);
                x10 ^= Rotl(x9 + x8, 18);
                x12 ^= Rotl(x15 + x14, 7);
                x13 ^= Rotl(x12 + x15, 9);
                x14 ^= Rotl(x13 + x12, 13);
                x15 ^= Rotl(x14 + x13, 18);
            }
            x0 += s0; x1 += s1; x2 += s2; x3 += s3; x4 += s4; x5 += s5; x6 += s6; x7 += s7; x8 += s8; x9 += s9; x10 += s10; x11 += s11; x12 += s12; x13 += s13; x14 += s14; x15 += s15;
            var offset = (nuint)done * 64;
            Output256(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset));
            counter += 8;
            done += 8;
        }
        return done;
    }

    /// <summary>4 blocks at a time, one block per 128-bit lane group (word i of block k in lane k of x_i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // SIMD kernels: no slow tier-0 phase
    private static int XorBlocks128(ReadOnlySpan<uint> state, ulong counter, ref byte src, ref byte dst, int blocks)
    {
        var s0 = Vector128.Create(state[0]);
        var s1 = Vector128.Create(state[1]);
        var s2 = Vector128.Create(state[2]);
        var s3 = Vector128.Create(state[3]);
        var s4 = Vector128.Create(state[4]);
        var s5 = Vector128.Create(state[5]);
        var s6 = Vector128.Create(state[6]);
        var s7 = Vector128.Create(state[7]);
        var s10 = Vector128.Create(state[10]);
        var s11 = Vector128.Create(state[11]);
        var s12 = Vector128.Create(state[12]);
        var s13 = Vector128.Create(state[13]);
        var s14 = Vector128.Create(state[14]);
        var s15 = Vector128.Create(state[15]);
        var done = 0;
        while (blocks - done >= 4)
        {
            var counterLow = Vector128.Create((uint)counter);
            var s8 = counterLow + Vector128<uint>.Indices;
            var s9 = Vector128.Create((uint)(counter >> 32)) - Vector128.LessThan(s8, counterLow); // carry: mask is all ones (= -1)
            var x0 = s0; var x1 = s1; var x2 = s2; var x3 = s3; var x4 = s4; var x5 = s5; var x6 = s6; var x7 = s7; var x8 = s8; var x9 = s9; var x10 = s10; var x11 = s11; var x12 = s12; var x13 = s13; var x14 = s14; var x15 = s15;
            for (var round = 0; round < 10; round++)
            {
                x4 ^= Rotl(x0 + x12, 7);
                x8 ^= Rotl(x4 + x0, 9);
                x12 ^= Rotl(x8 + x4, 13);
                x0 ^= Rotl(x12 + x8, 18);
                x9 ^= Rotl(x5 + x1, 7);
                x13 ^= Rotl(x9 + x5, 9);
                x1 ^= Rotl(x13 + x9, 13);
                x5 ^= Rotl(x1 + x13, 18);
                x14 ^= Rotl(x10 + x6, 7);
                x2 ^= Rotl(x14 + x10, 9);
                x6 ^= Rotl(x2 + x14, 13);
                x10 ^= Rotl(x6 + x2, 18);
                x3 ^= Rotl(x15 + x11, 7);
                x7 ^= Rotl(x3 + x15, 9);
                x11 ^= Rotl(x7 + x3, 13);
                x15 ^= Rotl(x11 + x7, 18);
                x1 ^= Rotl(x0 + x3, 7);
                x2 ^= Rotl(x1 + x0, 9);
                x3 ^= Rotl(x2 + x1, 13);
                x0 ^= Rotl(x3 + x2, 18);
                x6 ^= Rotl(x5 + x4, 7);
                x7 ^= Rotl(x6 + x5, 9);
                x4 ^= Rotl(x7 + x6, 13);
                x5 ^= Rotl(x4 + x7, 18);
                x11 ^= Rotl(x10 + x9, 7);
                x8 ^= Rotl(x11 + x10, 9);
                x9 ^= Rotl(x8 + x11, 13);
                x10 ^= Rotl(x9 + x8, 18);
                x12 ^= Rotl(x15 + x14, 7);
                x13 ^= Rotl(x12 + x15, 9);
                x14 ^= Rotl(x13 + x12, 13);
                x15 ^= Rotl(x14 + x13, 18);
            }
            x0 += s0; x1 += s1; x2 += s2; x3 += s3; x4 += s4; x5 += s5; x6 += s6; x7 += s7; x8 += s8; x9 += s9; x10 += s10; x11 += s11; x12 += s12; x13 += s13; x14 += s14; x15 += s15;
            var offset = (nuint)done * 64;
            Output128(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, ref Unsafe.Add(ref src, offset), ref Unsafe.Add(ref dst, offset));
            counter += 4;
            done += 4;
        }
        return done;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Rotl(Vector512<uint> v, [ConstantExpected] byte n) => Avx512F.RotateLeft(v, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotl(Vector256<uint> v, [ConstantExpected] byte n) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.RotateLeft(v, n) : (v << n) | (v >>> (32 - n));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Rotl(Vector128<uint> v, [ConstantExpected] byte n) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.RotateLeft(v, n) : (v << n) | (v >>> (32 - n));

    /// <summary>4x4 transpose of 32-bit words inside each 128-bit lane: u_j holds words a..d of the blocks in lane j of every 128-bit group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<uint>, Vector512<uint>, Vector512<uint>, Vector512<uint>) Transpose(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c, Vector512<uint> d)
    {
        var t0 = Avx512F.UnpackLow(a, b).AsUInt64();
        var t1 = Avx512F.UnpackHigh(a, b).AsUInt64();
        var t2 = Avx512F.UnpackLow(c, d).AsUInt64();
        var t3 = Avx512F.UnpackHigh(c, d).AsUInt64();
        return (Avx512F.UnpackLow(t0, t2).AsUInt32(), Avx512F.UnpackHigh(t0, t2).AsUInt32(),
                Avx512F.UnpackLow(t1, t3).AsUInt32(), Avx512F.UnpackHigh(t1, t3).AsUInt32());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<uint>, Vector256<uint>, Vector256<uint>, Vector256<uint>) Transpose(Vector256<uint> a, Vector256<uint> b, Vector256<uint> c, Vector256<uint> d)
    {
        var t0 = Avx2.UnpackLow(a, b).AsUInt64();
        var t1 = Avx2.UnpackHigh(a, b).AsUInt64();
        var t2 = Avx2.UnpackLow(c, d).AsUInt64();
        var t3 = Avx2.UnpackHigh(c, d).AsUInt64();
        return (Avx2.UnpackLow(t0, t2).AsUInt32(), Avx2.UnpackHigh(t0, t2).AsUInt32(),
                Avx2.UnpackLow(t1, t3).AsUInt32(), Avx2.UnpackHigh(t1, t3).AsUInt32());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<uint>, Vector128<uint>, Vector128<uint>, Vector128<uint>) Transpose(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d)
    {
        var t0 = Sse2.UnpackLow(a, b).AsUInt64();
        var t1 = Sse2.UnpackHigh(a, b).AsUInt64();
        var t2 = Sse2.UnpackLow(c, d).AsUInt64();
        var t3 = Sse2.UnpackHigh(c, d).AsUInt64();
        return (Sse2.UnpackLow(t0, t2).AsUInt32(), Sse2.UnpackHigh(t0, t2).AsUInt32(),
                Sse2.UnpackLow(t1, t3).AsUInt32(), Sse2.UnpackHigh(t1, t3).AsUInt32());
    }

    // After Transpose of words 4g..4g+3, vector u_j of group g holds bytes 16g..16g+15 of block j + 4 * lane
    // in its 128-bit lane number "lane". A block is the same lane of u_j from the four groups.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Output512(
        Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3,
        Vector512<uint> x4, Vector512<uint> x5, Vector512<uint> x6, Vector512<uint> x7,
        Vector512<uint> x8, Vector512<uint> x9, Vector512<uint> x10, Vector512<uint> x11,
        Vector512<uint> x12, Vector512<uint> x13, Vector512<uint> x14, Vector512<uint> x15,
        ref byte src, ref byte dst)
    {
        var (a0, a1, a2, a3) = Transpose(x0, x1, x2, x3);
        var (b0, b1, b2, b3) = Transpose(x4, x5, x6, x7);
        var (c0, c1, c2, c3) = Transpose(x8, x9, x10, x11);
        var (d0, d1, d2, d3) = Transpose(x12, x13, x14, x15);
        Store512(a0, b0, c0, d0, ref src, ref dst, 0);
        Store512(a1, b1, c1, d1, ref src, ref dst, 1);
        Store512(a2, b2, c2, d2, ref src, ref dst, 2);
        Store512(a3, b3, c3, d3, ref src, ref dst, 3);
    }

    /// <summary>Blocks j, j+4, j+8, j+12 from the four groups' u_j (a = bytes 0-15, b = 16-31, ...).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c, Vector512<uint> d, ref byte src, ref byte dst, nuint j)
    {
        // 4x4 transpose of 128-bit lanes.
        var p0 = Avx512F.Shuffle4x128(a, b, 0b01_00_01_00); // a.l0 a.l1 b.l0 b.l1
        var p1 = Avx512F.Shuffle4x128(a, b, 0b11_10_11_10); // a.l2 a.l3 b.l2 b.l3
        var p2 = Avx512F.Shuffle4x128(c, d, 0b01_00_01_00); // c.l0 c.l1 d.l0 d.l1
        var p3 = Avx512F.Shuffle4x128(c, d, 0b11_10_11_10); // c.l2 c.l3 d.l2 d.l3
        XorStore(Avx512F.Shuffle4x128(p0, p2, 0b10_00_10_00), ref src, ref dst, j * 64);        // lane 0
        XorStore(Avx512F.Shuffle4x128(p0, p2, 0b11_01_11_01), ref src, ref dst, (j + 4) * 64);  // lane 1
        XorStore(Avx512F.Shuffle4x128(p1, p3, 0b10_00_10_00), ref src, ref dst, (j + 8) * 64);  // lane 2
        XorStore(Avx512F.Shuffle4x128(p1, p3, 0b11_01_11_01), ref src, ref dst, (j + 12) * 64); // lane 3
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorStore(Vector512<uint> keystream, ref byte src, ref byte dst, nuint offset) =>
        (Vector512.LoadUnsafe(ref src, offset) ^ keystream.AsByte()).StoreUnsafe(ref dst, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Output256(
        Vector256<uint> x0, Vector256<uint> x1, Vector256<uint> x2, Vector256<uint> x3,
        Vector256<uint> x4, Vector256<uint> x5, Vector256<uint> x6, Vector256<uint> x7,
        Vector256<uint> x8, Vector256<uint> x9, Vector256<uint> x10, Vector256<uint> x11,
        Vector256<uint> x12, Vector256<uint> x13, Vector256<uint> x14, Vector256<uint> x15,
        ref byte src, ref byte dst)
    {
        var (a0, a1, a2, a3) = Transpose(x0, x1, x2, x3);
        var (b0, b1, b2, b3) = Transpose(x4, x5, x6, x7);
        var (c0, c1, c2, c3) = Transpose(x8, x9, x10, x11);
        var (d0, d1, d2, d3) = Transpose(x12, x13, x14, x15);
        Store256(a0, b0, c0, d0, ref src, ref dst, 0);
        Store256(a1, b1, c1, d1, ref src, ref dst, 1);
        Store256(a2, b2, c2, d2, ref src, ref dst, 2);
        Store256(a3, b3, c3, d3, ref src, ref dst, 3);
    }

    /// <summary>Blocks j and j+4 (128-bit lanes 0 and 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(Vector256<uint> a, Vector256<uint> b, Vector256<uint> c, Vector256<uint> d, ref byte src, ref byte dst, nuint j)
    {
        XorStore(Avx2.Permute2x128(a, b, 0x20), ref src, ref dst, j * 64);
        XorStore(Avx2.Permute2x128(c, d, 0x20), ref src, ref dst, j * 64 + 32);
        XorStore(Avx2.Permute2x128(a, b, 0x31), ref src, ref dst, (j + 4) * 64);
        XorStore(Avx2.Permute2x128(c, d, 0x31), ref src, ref dst, (j + 4) * 64 + 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorStore(Vector256<uint> keystream, ref byte src, ref byte dst, nuint offset) =>
        (Vector256.LoadUnsafe(ref src, offset) ^ keystream.AsByte()).StoreUnsafe(ref dst, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Output128(
        Vector128<uint> x0, Vector128<uint> x1, Vector128<uint> x2, Vector128<uint> x3,
        Vector128<uint> x4, Vector128<uint> x5, Vector128<uint> x6, Vector128<uint> x7,
        Vector128<uint> x8, Vector128<uint> x9, Vector128<uint> x10, Vector128<uint> x11,
        Vector128<uint> x12, Vector128<uint> x13, Vector128<uint> x14, Vector128<uint> x15,
        ref byte src, ref byte dst)
    {
        var (a0, a1, a2, a3) = Transpose(x0, x1, x2, x3);
        var (b0, b1, b2, b3) = Transpose(x4, x5, x6, x7);
        var (c0, c1, c2, c3) = Transpose(x8, x9, x10, x11);
        var (d0, d1, d2, d3) = Transpose(x12, x13, x14, x15);
        Store128(a0, b0, c0, d0, ref src, ref dst, 0);
        Store128(a1, b1, c1, d1, ref src, ref dst, 1);
        Store128(a2, b2, c2, d2, ref src, ref dst, 2);
        Store128(a3, b3, c3, d3, ref src, ref dst, 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d, ref byte src, ref byte dst, nuint j)
    {
        XorStore(a, ref src, ref dst, j * 64);
        XorStore(b, ref src, ref dst, j * 64 + 16);
        XorStore(c, ref src, ref dst, j * 64 + 32);
        XorStore(d, ref src, ref dst, j * 64 + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorStore(Vector128<uint> keystream, ref byte src, ref byte dst, nuint offset) =>
        (Vector128.LoadUnsafe(ref src, offset) ^ keystream.AsByte()).StoreUnsafe(ref dst, offset);
}
