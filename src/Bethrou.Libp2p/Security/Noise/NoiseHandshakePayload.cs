using System.Text;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// libp2p <c>NoiseHandshakePayload</c> (proto2): identity_key = 1 (bytes, a PublicKey protobuf), identity_sig = 2 (bytes),
/// extensions = 4 (NoiseExtensions: webtransport_certhashes = 1, stream_muxers = 2). Hand-rolled, bounded, and
/// unknown fields are skipped.
/// </summary>
internal sealed class NoiseHandshakePayload
{
    public const int MaxIdentityKeyLength = 2048;   // RSA-8192 SubjectPublicKeyInfo is about 1.1 KB
    public const int MaxIdentitySigLength = 1024;   // RSA-8192 signature
    public const int MaxMuxers = 32;
    public const int MaxMuxerLength = 256;

    public byte[]? IdentityKey { get; init; }

    public byte[]? IdentitySig { get; init; }

    /// <summary>null when no extensions (or no stream_muxers) were sent; otherwise the list in the sender's order.</summary>
    public IReadOnlyList<string>? StreamMuxers { get; init; }

    public byte[] Encode()
    {
        var extLen = 0;
        if (StreamMuxers is { Count: > 0 })
        {
            foreach (var m in StreamMuxers)
            {
                var n = Encoding.UTF8.GetByteCount(m);
                extLen += 1 + VarLength((ulong)n) + n;
            }
        }
        var total = 0;
        if (IdentityKey is not null)
        {
            total += 1 + VarLength((ulong)IdentityKey.Length) + IdentityKey.Length;
        }
        if (IdentitySig is not null)
        {
            total += 1 + VarLength((ulong)IdentitySig.Length) + IdentitySig.Length;
        }
        if (extLen > 0)
        {
            total += 1 + VarLength((ulong)extLen) + extLen;
        }
        var buf = new byte[total];
        var o = 0;
        if (IdentityKey is not null)
        {
            o = WriteBytesField(buf, o, 0x0a, IdentityKey);
        }
        if (IdentitySig is not null)
        {
            o = WriteBytesField(buf, o, 0x12, IdentitySig);
        }
        if (extLen > 0)
        {
            buf[o++] = 0x22;
            o += WriteVar(buf.AsSpan(o), (ulong)extLen);
            foreach (var m in StreamMuxers!)
            {
                o = WriteBytesField(buf, o, 0x12, Encoding.UTF8.GetBytes(m));
            }
        }
        return buf;
    }

    /// <summary>Decodes a payload; null on success, else a precise error.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> data, out NoiseHandshakePayload payload)
    {
        payload = null!;
        byte[]? key = null;
        byte[]? sig = null;
        List<string>? muxers = null;
        var o = 0;
        while (o < data.Length)
        {
            var error = ReadTag(data, ref o, out var field, out var wire);
            if (error is not null)
            {
                return error;
            }
            switch (field)
            {
                case 1:
                case 2:
                    {
                        if (wire != 2)
                        {
                            return $"field {field} ({(field == 1 ? "identity_key" : "identity_sig")}) has wire type {wire}, expected 2";
                        }
                        error = ReadLengthDelimited(data, ref o, out var value);
                        if (error is not null)
                        {
                            return $"{(field == 1 ? "identity_key" : "identity_sig")}: {error}";
                        }
                        var max = field == 1 ? MaxIdentityKeyLength : MaxIdentitySigLength;
                        if (value.Length > max)
                        {
                            return $"{(field == 1 ? "identity_key" : "identity_sig")} is {value.Length} bytes, more than the maximum {max}";
                        }
                        if (field == 1)
                        {
                            key = value.ToArray();
                        }
                        else
                        {
                            sig = value.ToArray();
                        }
                        break;
                    }
                case 4:
                    {
                        if (wire != 2)
                        {
                            return $"field 4 (extensions) has wire type {wire}, expected 2";
                        }
                        error = ReadLengthDelimited(data, ref o, out var ext);
                        if (error is not null)
                        {
                            return $"extensions: {error}";
                        }
                        error = DecodeExtensions(ext, ref muxers);
                        if (error is not null)
                        {
                            return $"extensions: {error}";
                        }
                        break;
                    }
                default:
                    error = Skip(data, ref o, wire);
                    if (error is not null)
                    {
                        return $"unknown field {field}: {error}";
                    }
                    break;
            }
        }
        payload = new NoiseHandshakePayload { IdentityKey = key, IdentitySig = sig, StreamMuxers = muxers };
        return null;
    }

    private static string? DecodeExtensions(ReadOnlySpan<byte> data, ref List<string>? muxers)
    {
        var o = 0;
        while (o < data.Length)
        {
            var error = ReadTag(data, ref o, out var field, out var wire);
            if (error is not null)
            {
                return error;
            }
            if (field == 2)
            {
                if (wire != 2)
                {
                    return $"field 2 (stream_muxers) has wire type {wire}, expected 2";
                }
                error = ReadLengthDelimited(data, ref o, out var value);
                if (error is not null)
                {
                    return $"stream_muxers: {error}";
                }
                muxers ??= [];
                if (muxers.Count == MaxMuxers)
                {
                    return $"more than {MaxMuxers} stream_muxers";
                }
                if (value.Length > MaxMuxerLength)
                {
                    return $"a stream_muxers entry is {value.Length} bytes, more than the maximum {MaxMuxerLength}";
                }
                string name;
                try
                {
                    name = StrictUtf8.GetString(value);
                }
                catch (DecoderFallbackException)
                {
                    return "a stream_muxers entry is not valid UTF-8";
                }
                muxers.Add(name);
            }
            else
            {
                // webtransport_certhashes (1) and unknown/experimental fields are ignored
                error = Skip(data, ref o, wire);
                if (error is not null)
                {
                    return $"field {field}: {error}";
                }
            }
        }
        return null;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private static string? ReadTag(ReadOnlySpan<byte> data, ref int o, out ulong field, out int wire)
    {
        field = 0;
        wire = 0;
        var error = ReadVarint(data, ref o, out var tag);
        if (error is not null)
        {
            return $"tag: {error}";
        }
        field = tag >> 3;
        wire = (int)(tag & 7);
        if (field == 0)
        {
            return "field number 0 is invalid";
        }
        return null;
    }

    private static string? ReadLengthDelimited(ReadOnlySpan<byte> data, ref int o, out ReadOnlySpan<byte> value)
    {
        value = default;
        var error = ReadVarint(data, ref o, out var len);
        if (error is not null)
        {
            return $"length: {error}";
        }
        if (len > (ulong)(data.Length - o))
        {
            return $"length {len} runs past the end of the message ({data.Length - o} bytes left)";
        }
        value = data.Slice(o, (int)len);
        o += (int)len;
        return null;
    }

    private static string? Skip(ReadOnlySpan<byte> data, ref int o, int wire)
    {
        switch (wire)
        {
            case 0:
                return ReadVarint(data, ref o, out _);
            case 1:
                if (data.Length - o < 8)
                {
                    return "truncated fixed64";
                }
                o += 8;
                return null;
            case 2:
                return ReadLengthDelimited(data, ref o, out _);
            case 5:
                if (data.Length - o < 4)
                {
                    return "truncated fixed32";
                }
                o += 4;
                return null;
            default:
                return $"unsupported wire type {wire}";
        }
    }

    /// <summary>Protobuf varint: up to 10 bytes (non-minimal encodings are legal protobuf).</summary>
    private static string? ReadVarint(ReadOnlySpan<byte> data, ref int o, out ulong value)
    {
        value = 0;
        for (var i = 0; i < 10; i++)
        {
            if (o >= data.Length)
            {
                return "truncated varint";
            }
            var b = data[o++];
            if (i == 9 && b > 1)
            {
                return "varint overflows 64 bits";
            }
            value |= (ulong)(b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0)
            {
                return null;
            }
        }
        return "varint longer than 10 bytes";
    }

    private static int VarLength(ulong v)
    {
        var n = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            n++;
        }
        return n;
    }

    private static int WriteVar(Span<byte> dest, ulong v)
    {
        var i = 0;
        while (v >= 0x80)
        {
            dest[i++] = (byte)(v | 0x80);
            v >>= 7;
        }
        dest[i++] = (byte)v;
        return i;
    }

    private static int WriteBytesField(byte[] buf, int o, byte tag, ReadOnlySpan<byte> value)
    {
        buf[o++] = tag;
        o += WriteVar(buf.AsSpan(o), (ulong)value.Length);
        value.CopyTo(buf.AsSpan(o));
        return o + value.Length;
    }
}
