namespace Bethrou.Interop.Tests.Harness;

/// <summary>How to start a js-libp2p test peer (interop/js/peer.mjs).</summary>
public sealed class JsPeerOptions
{
    /// <summary>Path of a base16 PSK file (see <see cref="JsInterop.WritePskFile"/>); null = no pnet.</summary>
    public string? PskFile { get; init; }

    /// <summary>64 hex characters: a fixed Ed25519 identity seed; null = random identity.</summary>
    public string? Seed { get; init; }

    /// <summary>Run a circuit relay v2 server (limits raised: 1 GiB and 10 minutes per relayed connection).</summary>
    public bool RelayServer { get; init; }

    /// <summary>Add the circuit relay transport (dial /p2p-circuit addresses, listen via a relay).</summary>
    public bool RelayClient { get; init; }

    /// <summary>Serve /bethrou/proxy/1.0.0 and /bethrou/ping/1.0.0 like the Go Bethrou node.</summary>
    public bool GoBethrouExit { get; init; }

    /// <summary>
    /// With <see cref="GoBethrouExit"/>: forward bytes that arrive together with the request line instead of
    /// dropping them (Go's json.Decoder drops them; dropping is the default and is reported as a "proxy:early-data" event).
    /// </summary>
    public bool GoExitKeepEarlyData { get; init; }

    /// <summary>First listen multiaddr.</summary>
    public string ListenAddr { get; init; } = "/ip4/127.0.0.1/tcp/0";

    /// <summary>More listen multiaddrs (e.g. "&lt;relay&gt;/p2p-circuit"; start then waits for the reservation).</summary>
    public IReadOnlyList<string> ExtraListenAddrs { get; init; } = [];

    /// <summary>Turn off js's connection monitor (it pings every connection every 10 s and aborts on failure).</summary>
    public bool DisableConnectionMonitor { get; init; }

    /// <summary>js connection manager dial timeout.</summary>
    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait for the "ready" event.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Extra environment variables for the node process, e.g. DEBUG=libp2p:* (logs go to stderr).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>A short name used in diagnostics.</summary>
    public string Name { get; init; } = "js";

    internal IEnumerable<string> ToArguments()
    {
        yield return JsInterop.PeerScript;
        yield return "--listen";
        yield return ListenAddr;
        foreach (var addr in ExtraListenAddrs)
        {
            yield return "--listen";
            yield return addr;
        }

        if (PskFile is not null)
        {
            yield return "--psk";
            yield return PskFile;
        }

        if (Seed is not null)
        {
            yield return "--seed";
            yield return Seed;
        }

        if (RelayServer)
        {
            yield return "--relay-server";
        }

        if (RelayClient)
        {
            yield return "--relay-client";
        }

        if (GoBethrouExit)
        {
            yield return "--go-bethrou-exit";
        }

        if (GoExitKeepEarlyData)
        {
            yield return "--go-exit-keep-early-data";
        }

        if (DisableConnectionMonitor)
        {
            yield return "--no-connection-monitor";
        }

        yield return "--dial-timeout";
        yield return ((long)DialTimeout.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
