using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Libp2p.Host;

public sealed class Libp2pHostOptions
{
    public Ed25519PrivateKey? Identity { get; set; }

    /// <summary>The private network key; null means a public (unprotected) network.</summary>
    public PreSharedKey? Psk { get; set; }

    public IList<Multiaddress> ListenAddresses { get; } = [];

    public string AgentVersion { get; set; } = "bethrou/" + (typeof(Libp2pHostOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    public string ProtocolVersion { get; set; } = "ipfs/0.1.0";

    /// <summary>TCP connect plus upgrade, per dial.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Inbound upgrade (pnet + noise + muxer) limit, as js-libp2p.</summary>
    public TimeSpan UpgradeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Per-stream protocol negotiation limit.</summary>
    public TimeSpan NegotiationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan IdentifyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>Upgrades running at once for inbound connections (bounds the cost of a flood of handshakes).</summary>
    public int MaxPendingInboundUpgrades { get; set; } = 64;

    /// <summary>Muxer settings. Stream limits are above js-libp2p's 1000 because an exit carries one stream per proxied
    /// connection; the app layer (exit limits) bounds them more precisely.</summary>
    public YamuxOptions Yamux { get; set; } = new() { MaxInboundStreams = 8192, MaxOutboundStreams = 8192, AcceptBacklog = 1024, StreamSendBufferSize = 32 * 1024 };

    /// <summary>Dial <c>/p2p-circuit</c> addresses through circuit relay v2 (on by default, as in go and js).</summary>
    public bool EnableRelayTransport { get; set; } = true;

    /// <summary>DCUtR hole punching over relayed connections (on by default, as in Go Bethrou). Connections to relays
    /// and punching dials then leave from one fixed local port (SO_REUSEPORT); other dials are unchanged.</summary>
    public bool EnableHolePunching { get; set; } = true;

    public Protocols.Dcutr.DcutrOptions HolePunching { get; set; } = new();

    /// <summary>When a peer has direct and relayed addresses, relayed dials start this long after the direct ones
    /// (or as soon as every direct dial has failed).</summary>
    public TimeSpan RelayDialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Every problem at once (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Identity is null)
        {
            errors.Add("Identity is required");
        }
        foreach (var (name, value) in new[] { (nameof(DialTimeout), DialTimeout), (nameof(UpgradeTimeout), UpgradeTimeout), (nameof(NegotiationTimeout), NegotiationTimeout), (nameof(IdentifyTimeout), IdentifyTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{name} must be positive, got {value}");
            }
        }
        if (RelayDialDelay < TimeSpan.Zero)
        {
            errors.Add($"RelayDialDelay must not be negative, got {RelayDialDelay}");
        }
        if (MaxInboundConnections < 1)
        {
            errors.Add($"MaxInboundConnections must be at least 1, got {MaxInboundConnections}");
        }
        if (MaxPendingInboundUpgrades < 1)
        {
            errors.Add($"MaxPendingInboundUpgrades must be at least 1, got {MaxPendingInboundUpgrades}");
        }
        foreach (var a in ListenAddresses)
        {
            var ep = a.GetTcpEndpoint();
            if (ep is null || (ep.Value.HostProtocol != MultiaddressProtocol.Ip4 && ep.Value.HostProtocol != MultiaddressProtocol.Ip6))
            {
                errors.Add($"cannot listen on {a}: only /ip4/…/tcp/… and /ip6/…/tcp/… are supported");
            }
        }
        return errors;
    }
}
