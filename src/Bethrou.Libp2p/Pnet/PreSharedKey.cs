using System.Security.Cryptography;
using System.Text;

namespace Bethrou.Libp2p.Pnet;

/// <summary>A libp2p private network key (PSK v1): 32 bytes shared by every node of the network.
/// Key files use the go/Kubo <c>swarm.key</c> format (<see cref="Parse"/>). <see cref="ToString"/> shows only
/// the fingerprint.</summary>
public sealed class PreSharedKey
{
    public const int KeySize = 32;

    /// <summary>First line of a key file.</summary>
    public const string FileHeader = "/key/swarm/psk/1.0.0/";

    /// <summary>Key files larger than this are rejected without parsing (the largest valid file is about 110 bytes).</summary>
    public const int MaxFileSize = 1024;

    private const string EncodingsHint = "expected /base16/, /base64/ or /bin/";

    private static ReadOnlySpan<byte> FingerprintNonce => "finprint"u8;

    private readonly byte[] _key;
    private string? _fingerprint;

    private PreSharedKey(byte[] key) => _key = key;

    /// <summary>The 32 key bytes.</summary>
    public ReadOnlyMemory<byte> Key => _key;

    /// <summary>Display-only fingerprint, as Kubo prints it ("Swarm key fingerprint"): the first 16 bytes of
    /// SHAKE128 over 64 bytes of Salsa20/20 keystream (key = PSK, nonce = "finprint"), as 32 lowercase hex digits.</summary>
    public string Fingerprint => _fingerprint ??= ComputeFingerprint(_key);

    /// <summary>A new random key from the OS CSPRNG.</summary>
    public static PreSharedKey Generate() => new(RandomNumberGenerator.GetBytes(KeySize));

    /// <summary>Wraps 32 raw key bytes (copied).</summary>
    public static PreSharedKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"a private network key must be {KeySize} bytes, got {key.Length}", nameof(key));
        }
        return new PreSharedKey(key.ToArray());
    }

    /// <summary>Parses a key file: line 1 <c>/key/swarm/psk/1.0.0/</c>, line 2 the encoding (<c>/base16/</c>,
    /// <c>/base64/</c> (standard alphabet, padded) or <c>/bin/</c>), then the key (64 hex digits, 44 base64
    /// characters or 32 raw bytes). Lines end with <c>\n</c>; a trailing <c>\r</c> is ignored, and so is
    /// trailing whitespace after a text key.</summary>
    /// <exception cref="FormatException">The file is malformed; the message says what is wrong (never the key).</exception>
    public static PreSharedKey Parse(ReadOnlySpan<byte> file)
    {
        if (file.IsEmpty)
        {
            throw new FormatException("the file is empty");
        }
        if (file.Length > MaxFileSize)
        {
            throw new FormatException($"the file is {file.Length} bytes, too large for a private network key file (at most {MaxFileSize})");
        }

        var rest = file;
        TryTakeLine(ref rest, out var line1);
        if (!line1.SequenceEqual("/key/swarm/psk/1.0.0/"u8))
        {
            if (file.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            {
                throw new FormatException($"line 1 must be {FileHeader} (the file starts with a UTF-8 byte order mark; save it without BOM)");
            }
            throw new FormatException($"line 1 must be {FileHeader}");
        }
        if (rest.IsEmpty)
        {
            throw new FormatException($"line 2 (the encoding) is missing; {EncodingsHint}");
        }
        TryTakeLine(ref rest, out var encoding);
        var isText = encoding.SequenceEqual("/base16/"u8) || encoding.SequenceEqual("/base64/"u8);
        if (!isText && !encoding.SequenceEqual("/bin/"u8))
        {
            throw new FormatException($"unknown encoding '{Printable(encoding)}' on line 2 ({EncodingsHint})");
        }
        if (rest.IsEmpty || (isText && rest.TrimEnd(" \t\r\n"u8).IsEmpty))
        {
            throw new FormatException("line 3 (the key) is missing");
        }

        byte[] key;
        if (encoding.SequenceEqual("/base16/"u8))
        {
            key = DecodeBase16(TakeTextKey(rest));
        }
        else if (encoding.SequenceEqual("/base64/"u8))
        {
            key = DecodeBase64(TakeTextKey(rest));
        }
        else
        {
            key = DecodeBinary(rest);
        }
        return new PreSharedKey(key);
    }

    /// <summary>Reads and parses a key file.</summary>
    /// <exception cref="PskFileException">The file is missing, unreadable or malformed; the message is "&lt;path&gt;: &lt;problem&gt;".</exception>
    public static PreSharedKey Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] content;
        try
        {
            if (Directory.Exists(path))
            {
                throw new PskFileException(path, "is a directory, not a key file");
            }
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            if (stream.Length > MaxFileSize)
            {
                throw new PskFileException(path, $"the file is {stream.Length} bytes, too large for a private network key file (at most {MaxFileSize})");
            }
            content = new byte[stream.Length];
            stream.ReadExactly(content);
        }
        catch (FileNotFoundException e)
        {
            throw new PskFileException(path, "file not found", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new PskFileException(path, "file not found (its directory does not exist)", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PskFileException(path, "permission denied", e);
        }
        catch (IOException e) when (e is not PskFileException)
        {
            throw new PskFileException(path, $"cannot read the file: {e.Message}", e);
        }

        try
        {
            return Parse(content);
        }
        catch (FormatException e)
        {
            throw new PskFileException(path, e.Message, e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }
    }

    /// <summary>The key file in base16, the only encoding js-libp2p reads:
    /// <c>"/key/swarm/psk/1.0.0/\n/base16/\n" + 64 lowercase hex digits + "\n"</c>.</summary>
    public byte[] ToFileBytes()
    {
        var header = "/key/swarm/psk/1.0.0/\n/base16/\n"u8;
        var file = new byte[header.Length + (KeySize * 2) + 1];
        header.CopyTo(file);
        var ok = Convert.TryToHexStringLower(_key, file.AsSpan(header.Length), out var written);
        System.Diagnostics.Debug.Assert(ok && written == KeySize * 2);
        file[^1] = (byte)'\n';
        return file;
    }

    /// <summary>Never shows the key.</summary>
    public override string ToString() => Shake128.IsSupported ? $"PreSharedKey(fingerprint {Fingerprint})" : "PreSharedKey(32 bytes)";

    private static string ComputeFingerprint(byte[] key)
    {
        if (!Shake128.IsSupported)
        {
            throw new PlatformNotSupportedException("the PSK fingerprint needs SHAKE128, which this platform's crypto library lacks");
        }
        Span<uint> state = stackalloc uint[16];
        Span<byte> keystream = stackalloc byte[Salsa20.BlockSize];
        Salsa20.InitState(state, key, FingerprintNonce);
        Salsa20.KeystreamBlock(state, 0, keystream);
        Span<byte> digest = stackalloc byte[16];
        Shake128.HashData(keystream, digest);
        state.Clear();
        CryptographicOperations.ZeroMemory(keystream);
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>Takes bytes up to (not including) the next '\n' with trailing '\r's removed. False when there is no '\n'
    /// (then <paramref name="line"/> is the whole remainder, trimmed the same way, and <paramref name="rest"/> becomes empty).</summary>
    private static bool TryTakeLine(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> line)
    {
        var newline = rest.IndexOf((byte)'\n');
        if (newline < 0)
        {
            line = rest.TrimEnd((byte)'\r');
            rest = default;
            return false;
        }
        line = rest[..newline].TrimEnd((byte)'\r');
        rest = rest[(newline + 1)..];
        return true;
    }

    /// <summary>Line 3 of a text encoding; only ASCII whitespace may follow it.</summary>
    private static ReadOnlySpan<byte> TakeTextKey(ReadOnlySpan<byte> rest)
    {
        var newline = rest.IndexOf((byte)'\n');
        var key = newline < 0 ? rest : rest[..newline];
        if (newline >= 0 && rest[(newline + 1)..].TrimEnd(" \t\r\n"u8).Length > 0)
        {
            throw new FormatException("unexpected data after the key (line 4 and later must be empty)");
        }
        return key.TrimEnd(" \t\r"u8);
    }

    private static byte[] DecodeBase16(ReadOnlySpan<byte> text)
    {
        if (text.Length != KeySize * 2)
        {
            throw new FormatException($"base16 key must be {KeySize * 2} hex characters, got {text.Length}");
        }
        var key = new byte[KeySize];
        for (var i = 0; i < KeySize; i++)
        {
            var hi = HexValue(text[2 * i]);
            var lo = HexValue(text[(2 * i) + 1]);
            if (hi < 0 || lo < 0)
            {
                CryptographicOperations.ZeroMemory(key);
                throw new FormatException($"base16 key has a character that is not a hex digit at position {(hi < 0 ? 2 * i : (2 * i) + 1) + 1}");
            }
            key[i] = (byte)((hi << 4) | lo);
        }
        return key;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    private static byte[] DecodeBase64(ReadOnlySpan<byte> text)
    {
        const int Base64Length = ((KeySize + 2) / 3) * 4; // 44
        if (text.Length != Base64Length)
        {
            throw new FormatException($"base64 key must be {Base64Length} characters (32 bytes, standard alphabet, padded), got {text.Length}");
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var valid = c is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'+' or (byte)'/'
                || (c == (byte)'=' && i >= text.Length - 2);
            if (!valid)
            {
                throw new FormatException($"base64 key has a character outside the standard base64 alphabet at position {i + 1}");
            }
        }
        var key = new byte[KeySize + 1];
        var status = System.Buffers.Text.Base64.DecodeFromUtf8(text, key, out _, out var written);
        if (status != System.Buffers.OperationStatus.Done || written != KeySize)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new FormatException(status == System.Buffers.OperationStatus.Done
                ? $"base64 key must decode to {KeySize} bytes, got {written}"
                : "base64 key is not valid padded base64");
        }
        var exact = key.AsSpan(0, KeySize).ToArray();
        CryptographicOperations.ZeroMemory(key);
        return exact;
    }

    private static byte[] DecodeBinary(ReadOnlySpan<byte> rest)
    {
        // The raw key may itself contain '\n' and '\r', so only one optional line ending after exactly 32 bytes is allowed.
        var length = rest.Length;
        if (length == KeySize + 1 && rest[KeySize] == (byte)'\n')
        {
            length = KeySize;
        }
        else if (length == KeySize + 2 && rest[KeySize] == (byte)'\r' && rest[KeySize + 1] == (byte)'\n')
        {
            length = KeySize;
        }
        if (length != KeySize)
        {
            throw new FormatException($"bin key must be {KeySize} bytes, got {rest.Length}");
        }
        return rest[..KeySize].ToArray();
    }

    private static string Printable(ReadOnlySpan<byte> text)
    {
        const int Max = 40;
        var sb = new StringBuilder(Math.Min(text.Length, Max) + 3);
        for (var i = 0; i < text.Length && i < Max; i++)
        {
            var c = text[i];
            sb.Append(c is >= 0x20 and < 0x7f ? (char)c : '?');
        }
        if (text.Length > Max)
        {
            sb.Append("...");
        }
        return sb.ToString();
    }
}
