namespace Bethrou.Proxy.Protocol;

/// <summary>
/// The client's one request line on <c>/bethrou/proxy/1.0.0</c>:
/// <c>{"address":"host:port"}</c> (Go V1) or <c>{"address":"host:port","connect_timeout_ms":9998}</c> (Go V2).
/// </summary>
/// <param name="Address">SOCKS-style <c>host:port</c>; IPv6 literals in brackets (<c>[2001:db8::1]:443</c>).</param>
/// <param name="ConnectTimeoutMs">The client's remaining connect budget; null when it set none. Values below 1 mean none.</param>
internal readonly record struct ProxyRequest(string Address, long? ConnectTimeoutMs = null);

/// <summary>
/// The exit's one response line: <c>{"status":"ok"}</c> or <c>{"status":"error","message":"…"}</c>; our exits add
/// <c>"code"</c> (see <see cref="ProxyErrorCode"/>), which Go clients ignore.
/// </summary>
internal readonly record struct ProxyResponse(string Status, string? Message = null, string? Code = null)
{
    public const string OkStatus = "ok";
    public const string ErrorStatus = "error";

    public static ProxyResponse Ok => new(OkStatus);

    public bool IsOk => Status == OkStatus;

    public static ProxyResponse Error(ProxyErrorCode code, string message) =>
        new(ErrorStatus, message, code.ToWireName());

    /// <summary>The error class of a non-ok response (code field first, Go text otherwise).</summary>
    public ProxyErrorCode ErrorCode => ProxyErrorCodes.Classify(Code, Message);
}

/// <summary>Outcome of one attempt to decode a JSON line from a buffer.</summary>
internal enum ProxyFrameStatus
{
    /// <summary>A message was decoded and the buffer now starts after its newline.</summary>
    Ok,

    /// <summary>No newline yet, and the line is still below the maximum.</summary>
    NeedMoreData,

    /// <summary>The line is longer than <see cref="ProxyMessageCodec.MaxLineLength"/> bytes.</summary>
    TooLong,

    /// <summary>The line is not a valid message (bad JSON, wrong types, missing fields).</summary>
    Invalid,
}

/// <summary>A proxy handshake failed: bad or oversized line, or the stream ended before a full line.</summary>
internal sealed class ProxyProtocolException : IOException
{
    public ProxyProtocolException(ProxyFrameStatus status, string message)
        : base(message) => Status = status;

    /// <summary><see cref="ProxyFrameStatus.NeedMoreData"/> means the stream ended before the newline.</summary>
    public ProxyFrameStatus Status { get; }
}
