using System.Text.Json;

namespace Bethrou.Interop.Tests.Harness;

/// <summary>The js peer could not be started, exited, or did not answer in time.</summary>
public class JsPeerException : Exception
{
    public JsPeerException(string message)
        : base(message)
    {
    }

    public JsPeerException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A command was answered with ok:false; <see cref="Error"/> is js's own error text.</summary>
public sealed class JsPeerCommandException : JsPeerException
{
    public JsPeerCommandException(string command, string error, JsonElement reply)
        : base($"js command '{command}' failed: {error}")
    {
        Command = command;
        Error = error;
        Reply = reply;
    }

    public string Command { get; }

    public string Error { get; }

    public JsonElement Reply { get; }
}

public sealed record JsDialResult(bool Ok, string? PeerId, string? RemoteAddr, bool Limited, string? Error, string? ErrorName, TimeSpan Elapsed);

/// <summary>RTTs in ms (high resolution unless js's own ping service was used, which reports whole ms).</summary>
public sealed record JsPingResult(string PeerId, IReadOnlyList<double> Rtts, bool Limited);

public sealed record JsIdentifyResult(
    string PeerId,
    string? AgentVersion,
    string? ProtocolVersion,
    IReadOnlyList<string> Protocols,
    IReadOnlyList<string> ListenAddrs,
    string? ObservedAddr,
    string? PublicKeyHex,
    bool PublicKeyMatchesPeerId,
    JsonElement Raw);

public sealed record JsEchoStreamResult(bool Ok, long Bytes, long Received, double Ms, double MegabitsPerSecond, double MegabytesPerSecond, string? Sha256Sent, string? Sha256Received, string? Error);

/// <summary>Result of the echo command (js fields "mbps" and "MBps"): megabits/s and megabytes/s (10^6) of payload sent (each byte also comes back).</summary>
public sealed record JsEchoResult(bool Ok, long TotalBytes, double Ms, double MegabitsPerSecond, double MegabytesPerSecond, IReadOnlyList<JsEchoStreamResult> Streams, string? Error);

/// <summary>Result of the Go-client proxy command: the node's reply status/message and the origin's response bytes.</summary>
public sealed record JsProxyResult(string PeerId, string Status, string? Message, string Reply, byte[] Response, double Ms);

public sealed record JsConnectionInfo(string Id, string Peer, string Addr, string Status, string Direction, bool Limited, string? Encryption, string? Multiplexer);
