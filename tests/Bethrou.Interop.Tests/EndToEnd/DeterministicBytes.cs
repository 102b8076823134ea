using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// A seeded pseudo-random byte stream with random access: 8-byte word k is SplitMix64(seed, k), little endian.
/// Fast enough to produce and hash gigabytes in a test, and the same on every side (origin, test, file).
/// </summary>
public static class DeterministicBytes
{
    /// <summary>Fills <paramref name="destination"/> with the stream's bytes starting at <paramref name="offset"/>.</summary>
    public static void Fill(Span<byte> destination, long offset, ulong seed = 1)
    {
        Span<byte> word = stackalloc byte[8];
        var k = offset / 8;
        var skip = (int)(offset % 8);
        var i = 0;
        if (skip != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Mix(seed, k++));
            var n = Math.Min(8 - skip, destination.Length);
            word.Slice(skip, n).CopyTo(destination);
            i = n;
        }
        for (; i + 8 <= destination.Length; i += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], Mix(seed, k++));
        }
        if (i < destination.Length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Mix(seed, k));
            word[..(destination.Length - i)].CopyTo(destination[i..]);
        }
    }

    /// <summary>SHA-256 (lower-case hex) of the first <paramref name="length"/> bytes of the stream.</summary>
    public static string Sha256Hex(long length, ulong seed = 1)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        for (long o = 0; o < length; o += buffer.Length)
        {
            var n = (int)Math.Min(buffer.Length, length - o);
            Fill(buffer.AsSpan(0, n), o, seed);
            hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Writes the first <paramref name="length"/> bytes to a file and returns their SHA-256 (hex).</summary>
    public static async Task<string> WriteFileAsync(string path, long length, ulong seed = 1)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        for (long o = 0; o < length; o += buffer.Length)
        {
            var n = (int)Math.Min(buffer.Length, length - o);
            Fill(buffer.AsSpan(0, n), o, seed);
            hash.AppendData(buffer, 0, n);
            await file.WriteAsync(buffer.AsMemory(0, n));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>SHA-256 (hex) of a file.</summary>
    public static async Task<string> FileSha256HexAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
    }

    private static ulong Mix(ulong seed, long index)
    {
        var z = (seed * 0x9E3779B97F4A7C15UL) + ((ulong)index * 0xBF58476D1CE4E5B9UL) + 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
