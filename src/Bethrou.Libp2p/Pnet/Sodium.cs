using System.Runtime.InteropServices;

namespace Bethrou.Libp2p.Pnet;

/// <summary>The few libsodium entry points pnet needs. The native library is the one NSec.Cryptography
/// brings (NuGet package "libsodium", resolved by the host as "libsodium" from the app's runtimes folder).</summary>
internal static partial class Sodium
{
    private const string Library = "libsodium";

    private static readonly bool Initialized = Initialize();

    /// <summary>True when libsodium loaded and <c>sodium_init</c> succeeded (it picks the CPU-specific
    /// Salsa20 implementation, so it must run before the stream functions).</summary>
    public static bool IsAvailable => Initialized;

    private static bool Initialize()
    {
        try
        {
            // 0 = initialised now, 1 = already initialised (e.g. by NSec), -1 = failure.
            return sodium_init() >= 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>XORs <paramref name="source"/> with the Salsa20 keystream starting at block <paramref name="counter"/>.
    /// A final partial block uses the start of that block's keystream. Source and destination may be the same.</summary>
    public static unsafe void Salsa20XorIc(ReadOnlySpan<byte> source, Span<byte> destination, ReadOnlySpan<byte> nonce8, ulong counter, ReadOnlySpan<byte> key)
    {
        if (!Initialized)
        {
            throw new PlatformNotSupportedException("libsodium could not be loaded");
        }
        if (destination.Length < source.Length || nonce8.Length != 8 || key.Length != 32)
        {
            throw new ArgumentException("bad Salsa20 arguments");
        }
        fixed (byte* c = destination)
        fixed (byte* m = source)
        fixed (byte* n = nonce8)
        fixed (byte* k = key)
        {
            _ = crypto_stream_salsa20_xor_ic(c, m, (ulong)source.Length, n, counter, k);
        }
    }

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static partial int sodium_init();

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    [System.Security.SuppressUnmanagedCodeSecurity]
    private static unsafe partial int crypto_stream_salsa20_xor_ic(byte* c, byte* m, ulong mlen, byte* n, ulong ic, byte* k);
}
