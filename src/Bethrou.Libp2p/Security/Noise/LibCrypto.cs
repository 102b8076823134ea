using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>The OpenSSL 3 (libcrypto) entry points the Noise ciphers call directly: the EVP cipher interface for
/// ChaCha20-Poly1305 and ChaCha20, and the EVP MAC interface for Poly1305. A missing library surfaces as
/// <see cref="DllNotFoundException"/> on first call, which <see cref="OpenSslChaChaPoly.IsSupported"/> and
/// <see cref="ChaChaPolyVerifier.IsSupported"/> turn into "not supported".</summary>
internal static unsafe partial class LibCrypto
{
    private const string Library = "libcrypto.so.3";

    public const int CtrlAeadGetTag = 0x10;
    public const int CtrlAeadSetTag = 0x11;

    /// <summary>The most one EVP_CipherUpdate call is given. OpenSSL 3.0's ChaCha20-Poly1305 runs ChaCha20 over all
    /// of a call's input and then Poly1305 over all of it again: with a piece that fits in L1 the second pass reads L1,
    /// with a whole 64 KiB Noise frame it reads L2 (`openssl speed -evp chacha20-poly1305` here: ~4.0 GB/s for 4-32 KiB
    /// against ~3.05 GB/s for 65519 bytes). A multiple of 64 so no piece ends inside a ChaCha20 block.</summary>
    internal const int MaxUpdate = 16 * 1024;

    /// <summary>EVP_CipherUpdate over a whole span (output the same length), in pieces of at most
    /// <see cref="MaxUpdate"/> bytes; <paramref name="what"/> names the operation in the exception if OpenSSL refuses.</summary>
    public static void CipherUpdate(nint ctx, ReadOnlySpan<byte> input, Span<byte> output, string what)
    {
        if (input.IsEmpty)
        {
            return;
        }
        if (output.Length < input.Length)
        {
            throw new ArgumentException("the output is shorter than the input", nameof(output));
        }
        fixed (byte* i = input)
        fixed (byte* o = output)
        {
            for (var done = 0; done < input.Length;)
            {
                var n = Math.Min(MaxUpdate, input.Length - done);
                int written;
                if (EVP_CipherUpdate(ctx, o + done, &written, i + done, n) != 1 || written != n)
                {
                    throw new CryptographicOperationException($"EVP_CipherUpdate({what}) failed");
                }
                done += n;
            }
        }
    }

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    [SuppressGCTransition]
    public static partial nint EVP_chacha20_poly1305();

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    [SuppressGCTransition]
    public static partial nint EVP_chacha20();

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nint EVP_CIPHER_CTX_new();

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void EVP_CIPHER_CTX_free(nint ctx);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_CipherInit_ex(nint ctx, nint cipher, nint engine, byte* key, byte* iv, int enc);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_CipherUpdate(nint ctx, byte* output, int* outputLength, byte* input, int inputLength);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_CipherFinal_ex(nint ctx, byte* output, int* outputLength);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_CIPHER_CTX_ctrl(nint ctx, int type, int arg, void* ptr);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ERR_clear_error();

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nint EVP_MAC_fetch(nint libraryContext, string algorithm, string? properties);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nint EVP_MAC_CTX_new(nint mac);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void EVP_MAC_CTX_free(nint ctx);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_MAC_init(nint ctx, byte* key, nuint keyLength, void* parameters);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_MAC_update(nint ctx, byte* data, nuint length);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int EVP_MAC_final(nint ctx, byte* output, nuint* written, nuint outputSize);
}
