using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Discovery;

internal enum DiscoveryMessageKind
{
    /// <summary><c>{"type":"join","envelope":b64,"ttl_ms":n}</c> on <c>T:events</c>.</summary>
    Join,

    /// <summary><c>{"type":"leave","id":peer,"envelope":b64}</c> on <c>T:events</c> (a signed record with no addresses).</summary>
    Leave,

    /// <summary>Go: <c>{"action":"discover","reply":channel}</c> on <c>T</c>; ours add <c>"records":true</c>.</summary>
    GoRequest,

    /// <summary>Go: <c>{"id":peer,"addrs":[…/p2p/peer]}</c> on the reply channel; ours add <c>"envelope"</c>.</summary>
    GoReply,
}

/// <summary>A parsed discovery message; which fields are set depends on <see cref="Kind"/>.</summary>
internal sealed class DiscoveryMessage
{
    public DiscoveryMessageKind Kind { get; init; }

    public byte[]? Envelope { get; init; }

    public TimeSpan? Ttl { get; init; }

    public string? Id { get; init; }

    public IReadOnlyList<string>? Addrs { get; init; }

    public string? Reply { get; init; }

    /// <summary>The requester reads signed records itself: nodes that publish them need not answer.</summary>
    public bool HasRecords { get; init; }
}

/// <summary>JSON codec for the discovery messages (compact, Go-compatible, bounded).</summary>
internal static class DiscoveryMessages
{
    public const int MaxAddrs = 64;
    public const int MaxStringLength = 16 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    public static byte[] Join(byte[] envelope, TimeSpan ttl) => Write(w =>
    {
        w.WriteString("type", "join");
        w.WriteString("envelope", Convert.ToBase64String(envelope));
        w.WriteNumber("ttl_ms", (long)ttl.TotalMilliseconds);
    });

    public static byte[] Leave(PeerId id, byte[] envelope) => Write(w =>
    {
        w.WriteString("type", "leave");
        w.WriteString("id", id.ToString());
        w.WriteString("envelope", Convert.ToBase64String(envelope));
    });

    /// <summary>Go's request (field order as Go's json.Marshal writes it); <paramref name="hasRecords"/> adds our marker.</summary>
    public static byte[] GoRequest(string replyChannel, bool hasRecords) => Write(w =>
    {
        w.WriteString("action", "discover");
        w.WriteString("reply", replyChannel);
        if (hasRecords)
        {
            w.WriteBoolean("records", true);
        }
    });

    /// <summary>Go's reply <c>{"id","addrs"}</c>; Go clients ignore the extra <c>envelope</c> field, ours verify it.</summary>
    public static byte[] GoReply(PeerId id, IEnumerable<Multiaddress> fullAddrs, byte[]? envelope) => Write(w =>
    {
        w.WriteString("id", id.ToString());
        w.WriteStartArray("addrs");
        foreach (var a in fullAddrs)
        {
            w.WriteStringValue(a.ToString());
        }
        w.WriteEndArray();
        if (envelope is not null)
        {
            w.WriteString("envelope", Convert.ToBase64String(envelope));
        }
    });

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses one message. Unknown fields are skipped (as Go does); the error names what is wrong.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, int maxBytes, out DiscoveryMessage message, out string error)
    {
        message = null!;
        if (json.Length > maxBytes)
        {
            error = $"message of {json.Length} bytes exceeds the {maxBytes}-byte limit";
            return false;
        }
        json = json.Trim(" \t\r\n"u8);
        if (json.IsEmpty)
        {
            error = "empty message";
            return false;
        }
        string? type = null, envelope = null, id = null, action = null, reply = null;
        List<string>? addrs = null;
        long? ttlMs = null;
        var records = false;
        try
        {
            var r = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4 });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
            {
                error = "not a JSON object";
                return false;
            }
            while (r.Read() && r.TokenType != JsonTokenType.EndObject)
            {
                var name = r.GetString();
                r.Read();
                switch (name)
                {
                    case "type":
                        type = ReadString(ref r, name);
                        break;
                    case "envelope":
                        envelope = ReadString(ref r, name);
                        break;
                    case "id":
                        id = ReadString(ref r, name);
                        break;
                    case "action":
                        action = ReadString(ref r, name);
                        break;
                    case "reply":
                        reply = ReadString(ref r, name);
                        break;
                    case "ttl_ms":
                        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out var t) || t <= 0)
                        {
                            error = "field ttl_ms is not a positive integer";
                            return false;
                        }
                        ttlMs = t;
                        break;
                    case "records":
                        records = r.TokenType == JsonTokenType.True;
                        if (r.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                        {
                            r.Skip();
                        }
                        break;
                    case "addrs":
                        if (r.TokenType == JsonTokenType.Null)
                        {
                            addrs = null;
                            break;
                        }
                        if (r.TokenType != JsonTokenType.StartArray)
                        {
                            error = "field addrs is not an array";
                            return false;
                        }
                        addrs = [];
                        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                        {
                            if (addrs.Count >= MaxAddrs)
                            {
                                error = $"field addrs has more than {MaxAddrs} entries";
                                return false;
                            }
                            addrs.Add(ReadString(ref r, "addrs[]") ?? throw new JsonException("addrs[] holds a null"));
                        }
                        break;
                    default:
                        r.Skip();
                        break;
                }
            }
            if (r.TokenType != JsonTokenType.EndObject)
            {
                error = "truncated JSON object";
                return false;
            }
            // Anything after the object (other than whitespace, already trimmed) is not one JSON value.
            if (r.BytesConsumed != json.Length)
            {
                error = "trailing data after the JSON object";
                return false;
            }
        }
        catch (JsonException e)
        {
            error = "invalid JSON: " + e.Message;
            return false;
        }
        catch (InvalidOperationException e)
        {
            error = "invalid JSON: " + e.Message;
            return false;
        }

        if (type is "join" or "leave")
        {
            if (envelope is null)
            {
                error = $"{type} message has no envelope";
                return false;
            }
            if (!TryBase64(envelope, out var env))
            {
                error = $"{type} message envelope is not base64";
                return false;
            }
            message = new DiscoveryMessage
            {
                Kind = type == "join" ? DiscoveryMessageKind.Join : DiscoveryMessageKind.Leave,
                Envelope = env,
                Ttl = ttlMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
                Id = id,
            };
            error = "";
            return true;
        }
        if (type is not null)
        {
            error = $"unknown message type '{Truncate(type)}'";
            return false;
        }
        if (!string.IsNullOrEmpty(reply))
        {
            // Go's node: ignore unless the action is empty or "discover".
            if (action is not (null or "" or "discover"))
            {
                error = $"unknown action '{Truncate(action)}'";
                return false;
            }
            message = new DiscoveryMessage { Kind = DiscoveryMessageKind.GoRequest, Reply = reply, HasRecords = records };
            error = "";
            return true;
        }
        if (id is not null && addrs is not null)
        {
            byte[]? env = null;
            if (envelope is not null && !TryBase64(envelope, out env))
            {
                error = "reply envelope is not base64";
                return false;
            }
            message = new DiscoveryMessage { Kind = DiscoveryMessageKind.GoReply, Id = id, Addrs = addrs, Envelope = env };
            error = "";
            return true;
        }
        error = action is not null || reply is not null
            ? "discover request without a reply channel"
            : "not a discovery message (no type, reply or id/addrs)";
        return false;
    }

    private static string? ReadString(ref Utf8JsonReader r, string name)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (r.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"field {name} is not a string");
        }
        if (r.ValueSpan.Length > MaxStringLength)
        {
            throw new JsonException($"field {name} is longer than {MaxStringLength} bytes");
        }
        return r.GetString();
    }

    private static bool TryBase64(string s, out byte[] bytes)
    {
        bytes = new byte[(s.Length * 3 / 4) + 3];
        if (Convert.TryFromBase64String(s, bytes, out var n))
        {
            bytes = bytes[..n];
            return true;
        }
        bytes = [];
        return false;
    }

    private static string Truncate(string? s) => s is null ? "" : s.Length <= 40 ? s : s[..40] + "…";
}
