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

    /// <summary>EVP_CipherUpdate over a whole span (output the same length); <paramref name="what"/> names the
    /// operation in the exception if OpenSSL refuses.</summary>
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
        int written;
        fixed (byte* i = input)
        fixed (byte* o = output)
        {
            if (EVP_CipherUpdate(ctx, o, &written, i, input.Length) != 1 || written != input.Length)
            {
                throw new CryptographicOperationException($"EVP_CipherUpdate({what}) failed");
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
