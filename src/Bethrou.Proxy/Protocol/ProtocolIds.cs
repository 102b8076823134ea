namespace Bethrou.Proxy.Protocol;

/// <summary>The libp2p protocol ids Bethrou serves (identical to the Go node's).</summary>
internal static class ProtocolIds
{
    /// <summary>One JSON request line, one JSON response line, then raw bytes (reference §2.2).</summary>
    public const string Proxy = "/bethrou/proxy/1.0.0";

    /// <summary>The Go "ping": the node closes the stream at once; nothing is exchanged (reference §2.3).</summary>
    public const string Ping = "/bethrou/ping/1.0.0";
}
