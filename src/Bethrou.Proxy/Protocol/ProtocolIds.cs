namespace Bethrou.Proxy.Protocol;

/// <summary>The libp2p protocol ids Bethrou serves (identical to the Go node's).</summary>
internal static class ProtocolIds
{
    /// <summary>One JSON request line, one JSON response line, then raw bytes (reference §2.2).</summary>
    public const string Proxy = "/bethrou/proxy/1.0.0";

    /// <summary>
    /// The same wire format as <see cref="Proxy"/> (not a Go protocol), plus one promise from the exit: bytes that
    /// follow the request line in the stream are kept and forwarded once the destination is connected (Go's node
    /// decodes the request with a buffered reader and loses them). Fast-open clients send the application's first
    /// bytes with the request only to exits that list this id in identify.
    /// </summary>
    public const string ProxyKeepsData = "/bethrou/proxy/1.1.0";

    /// <summary>The Go "ping": the node closes the stream at once; nothing is exchanged (reference §2.3).</summary>
    public const string Ping = "/bethrou/ping/1.0.0";
}
