using System.Buffers;
using System.Text.Json;

namespace Bethrou.Proxy.Protocol;

/// <summary>
/// Newline-terminated compact JSON, exactly as Go's <c>json.Encoder.Encode</c> writes it. Reading is bounded and
/// stops at the first <c>\n</c>: every byte after it stays in the buffer for the raw phase.
/// </summary>
internal static class ProxyMessageCodec
{
    /// <summary>Longest accepted line, newline included. A request is at most ~300 bytes in practice.</summary>
    public const int MaxLineLength = 4096;

    private const byte Newline = (byte)'\n';

    private static ReadOnlySpan<byte> AddressName => "address"u8;
    private static ReadOnlySpan<byte> ConnectTimeoutName => "connect_timeout_ms"u8;
    private static ReadOnlySpan<byte> StatusName => "status"u8;
    private static ReadOnlySpan<byte> MessageName => "message"u8;
    private static ReadOnlySpan<byte> CodeName => "code"u8;

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = true };

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
        MaxDepth = 16,
    };

    public static void WriteRequest(IBufferWriter<byte> output, in ProxyRequest request)
    {
        using (var json = new Utf8JsonWriter(output, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString(AddressName, request.Address);
            if (request.ConnectTimeoutMs is { } ms)
            {
                json.WriteNumber(ConnectTimeoutName, ms);
            }
            json.WriteEndObject();
        }
        WriteNewline(output);
    }

    public static void WriteResponse(IBufferWriter<byte> output, in ProxyResponse response)
    {
        using (var json = new Utf8JsonWriter(output, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString(StatusName, response.Status);
            if (response.Message is not null)
            {
                json.WriteString(MessageName, response.Message);
            }
            if (response.Code is not null)
            {
                json.WriteString(CodeName, response.Code);
            }
            json.WriteEndObject();
        }
        WriteNewline(output);
    }

    /// <summary>Decodes one request line. On <see cref="ProxyFrameStatus.Ok"/> the buffer is sliced past the newline.</summary>
    public static ProxyFrameStatus TryReadRequest(ref ReadOnlySequence<byte> buffer, out ProxyRequest request, out string? error)
    {
        request = default;
        var status = TryReadLine(buffer, "proxy request", out var line, out var next, out error);
        if (status != ProxyFrameStatus.Ok)
        {
            return status;
        }
        if (!TryParseRequest(line, out request, out error))
        {
            return ProxyFrameStatus.Invalid;
        }
        buffer = buffer.Slice(next);
        return ProxyFrameStatus.Ok;
    }

    /// <summary>Decodes one response line. On <see cref="ProxyFrameStatus.Ok"/> the buffer is sliced past the newline.</summary>
    public static ProxyFrameStatus TryReadResponse(ref ReadOnlySequence<byte> buffer, out ProxyResponse response, out string? error)
    {
        response = default;
        var status = TryReadLine(buffer, "proxy response", out var line, out var next, out error);
        if (status != ProxyFrameStatus.Ok)
        {
            return status;
        }
        if (!TryParseResponse(line, out response, out error))
        {
            return ProxyFrameStatus.Invalid;
        }
        buffer = buffer.Slice(next);
        return ProxyFrameStatus.Ok;
    }

    private static void WriteNewline(IBufferWriter<byte> output)
    {
        output.GetSpan(1)[0] = Newline;
        output.Advance(1);
    }

    private static ProxyFrameStatus TryReadLine(
        in ReadOnlySequence<byte> buffer, string what, out ReadOnlySequence<byte> line, out SequencePosition next, out string? error)
    {
        line = default;
        next = default;
        error = null;
        var window = buffer.Length > MaxLineLength ? buffer.Slice(0, MaxLineLength) : buffer;
        var newline = window.PositionOf(Newline);
        if (newline is null)
        {
            if (buffer.Length >= MaxLineLength)
            {
                error = $"{what} line is longer than {MaxLineLength} bytes";
                return ProxyFrameStatus.TooLong;
            }
            return ProxyFrameStatus.NeedMoreData;
        }
        line = buffer.Slice(0, newline.Value);
        next = buffer.GetPosition(1, newline.Value);
        return ProxyFrameStatus.Ok;
    }

    private static bool TryParseRequest(in ReadOnlySequence<byte> line, out ProxyRequest request, out string? error)
    {
        request = default;
        string? address = null;
        long? timeout = null;
        try
        {
            if (IsBlank(line))
            {
                error = "proxy request line is empty";
                return false;
            }
            var reader = new Utf8JsonReader(line, ReaderOptions);
            if (!TryStartObject(ref reader, "proxy request", out error))
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals(AddressName))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        address = null;
                    }
                    else if (reader.TokenType != JsonTokenType.String)
                    {
                        error = $"proxy request field \"address\" must be a string, not {Describe(reader.TokenType)}";
                        return false;
                    }
                    else
                    {
                        address = reader.GetString();
                    }
                }
                else if (reader.ValueTextEquals(ConnectTimeoutName))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        timeout = null;
                    }
                    else if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var ms))
                    {
                        error = "proxy request field \"connect_timeout_ms\" must be an integer number of milliseconds";
                        return false;
                    }
                    else
                    {
                        timeout = ms;
                    }
                }
                else
                {
                    // Unknown fields are ignored, as Go's json.Decoder does.
                    reader.Read();
                    reader.Skip();
                }
            }
            if (!TryEnd(ref reader, "proxy request", out error))
            {
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = $"proxy request is not valid JSON: {ex.Message}";
            return false;
        }
        catch (InvalidOperationException ex)
        {
            error = $"proxy request is not valid JSON: {ex.Message}";
            return false;
        }
        if (string.IsNullOrEmpty(address))
        {
            error = "proxy request has no \"address\"";
            return false;
        }
        request = new ProxyRequest(address, timeout);
        return true;
    }

    private static bool TryParseResponse(in ReadOnlySequence<byte> line, out ProxyResponse response, out string? error)
    {
        response = default;
        string? status = null;
        string? message = null;
        string? code = null;
        try
        {
            if (IsBlank(line))
            {
                error = "proxy response line is empty";
                return false;
            }
            var reader = new Utf8JsonReader(line, ReaderOptions);
            if (!TryStartObject(ref reader, "proxy response", out error))
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                int field;
                if (reader.ValueTextEquals(StatusName))
                {
                    field = 0;
                }
                else if (reader.ValueTextEquals(MessageName))
                {
                    field = 1;
                }
                else if (reader.ValueTextEquals(CodeName))
                {
                    field = 2;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                reader.Read();
                string? value;
                if (reader.TokenType == JsonTokenType.Null)
                {
                    value = null;
                }
                else if (reader.TokenType == JsonTokenType.String)
                {
                    value = reader.GetString();
                }
                else
                {
                    var fieldName = field switch { 0 => "status", 1 => "message", _ => "code" };
                    error = $"proxy response field \"{fieldName}\" must be a string, not {Describe(reader.TokenType)}";
                    return false;
                }
                switch (field)
                {
                    case 0: status = value; break;
                    case 1: message = value; break;
                    default: code = value; break;
                }
            }
            if (!TryEnd(ref reader, "proxy response", out error))
            {
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = $"proxy response is not valid JSON: {ex.Message}";
            return false;
        }
        catch (InvalidOperationException ex)
        {
            error = $"proxy response is not valid JSON: {ex.Message}";
            return false;
        }
        if (string.IsNullOrEmpty(status))
        {
            error = "proxy response has no \"status\"";
            return false;
        }
        response = new ProxyResponse(status, message, code);
        return true;
    }

    private static bool TryStartObject(ref Utf8JsonReader reader, string what, out string? error)
    {
        if (!reader.Read())
        {
            error = $"{what} line is empty";
            return false;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = $"{what} must be a JSON object, not {Describe(reader.TokenType)}";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>After the object's end: only whitespace (e.g. a <c>\r</c>) may remain on the line.</summary>
    private static bool TryEnd(ref Utf8JsonReader reader, string what, out string? error)
    {
        if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0)
        {
            error = $"{what} is not a flat JSON object";
            return false;
        }
        if (reader.Read())
        {
            error = $"{what} line has data after the JSON object";
            return false;
        }
        error = null;
        return true;
    }

    private static bool IsBlank(in ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                {
                    return false;
                }
            }
        }
        return true;
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}
