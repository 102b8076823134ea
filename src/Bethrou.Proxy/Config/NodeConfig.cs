using System.Globalization;
using System.Text;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Proxy.Exit;
using YamlDotNet.RepresentationModel;

namespace Bethrou.Proxy.Config;

/// <summary>
/// The exit node's configuration after layering (defaults → node.yaml → BETHROU_* → flags) and validation.
/// YAML shape:
/// <code>
/// key: network.key            # PSK file (required)
/// identity: node.key          # Ed25519 identity, created on first run
/// listen: [/ip4/0.0.0.0/tcp/4000]
/// announce: [/dns4/exit.example.com/tcp/4000]
/// exit:
///   allow_private: false      # true opens loopback/RFC 1918/link-local/... (labs, tests)
///   denied_ports: [25]
///   allowed_peers: [12D3KooW...]   # absent = every peer holding the network key
///   max_streams: 1024
///   max_streams_per_peer: 256
///   dial_timeout: 10s
/// relay:
///   enabled: false            # serve circuit relay v2 (--relay-mode)
///   connect: [/ip4/203.0.113.7/tcp/4000/p2p/12D3KooW...]   # listen through these relays (--connect-relay)
///   max_reservations: 128
///   max_reservations_per_ip: 16     # 0 = no per-IP limit
///   reservation_ttl: 1h
///   max_circuits: 1024
///   max_circuits_per_peer: 64
///   data_limit: 0             # bytes per direction per relayed connection (suffixes KiB, MiB, GiB, TiB); 0 = unlimited
///   duration_limit: 0s        # per relayed connection; 0 = unlimited
/// log: {level: info, format: text}
/// </code>
/// </summary>
internal sealed record NodeConfig(
    string KeyPath,
    string IdentityPath,
    IReadOnlyList<string> Listen,
    IReadOnlyList<string> Announce,
    bool AllowPrivate,
    IReadOnlyList<int> DeniedPorts,
    IReadOnlyList<PeerId>? AllowedPeers,
    int MaxConcurrentStreams,
    int MaxConcurrentStreamsPerPeer,
    TimeSpan DialTimeout,
    LogSettings Log,
    string? SourcePath)
{
    /// <summary>node.key in the state directory (see <see cref="StatePaths"/>).</summary>
    public static string DefaultIdentityPath => StatePaths.DefaultIdentity();
    public const string DefaultListen = "/ip4/0.0.0.0/tcp/4000";

    /// <summary>Relay service and listen-through-relay settings.</summary>
    public NodeRelaySettings Relay { get; init; } = new();

    public ExitOptions ToExitOptions() => new()
    {
        AllowPrivate = AllowPrivate,
        DeniedPorts = [.. DeniedPorts],
        AllowedPeers = AllowedPeers is null ? null : [.. AllowedPeers],
        MaxConcurrentStreams = MaxConcurrentStreams,
        MaxConcurrentStreamsPerPeer = MaxConcurrentStreamsPerPeer,
        DialTimeout = DialTimeout,
    };

    /// <summary>A summary safe to log (the node config holds file paths, not secrets).</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append("config: ").Append(SourcePath ?? "(none: defaults, environment and flags)").Append('\n');
        sb.Append("key: ").Append(KeyPath).Append('\n');
        sb.Append("identity: ").Append(IdentityPath).Append('\n');
        sb.Append("listen: ").Append(string.Join(", ", Listen)).Append('\n');
        if (Announce.Count > 0)
        {
            sb.Append("announce: ").Append(string.Join(", ", Announce)).Append('\n');
        }
        sb.Append("exit.allow_private: ").Append(AllowPrivate ? "true" : "false").Append('\n');
        if (DeniedPorts.Count > 0)
        {
            sb.Append("exit.denied_ports: ").Append(string.Join(", ", DeniedPorts)).Append('\n');
        }
        sb.Append("exit.allowed_peers: ")
            .Append(AllowedPeers is null ? "(any peer with the network key)" : string.Join(", ", AllowedPeers)).Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $"exit.max_streams: {MaxConcurrentStreams}\n");
        sb.Append(CultureInfo.InvariantCulture, $"exit.max_streams_per_peer: {MaxConcurrentStreamsPerPeer}\n");
        sb.Append("exit.dial_timeout: ").Append(GoDuration.Format(DialTimeout)).Append('\n');
        sb.Append("relay.enabled: ").Append(Relay.Enabled ? "true" : "false").Append('\n');
        if (Relay.Enabled)
        {
            sb.Append(CultureInfo.InvariantCulture, $"relay.max_reservations: {Relay.MaxReservations} (per IP: {Relay.MaxReservationsPerIp}, ttl {GoDuration.Format(Relay.ReservationTtl)})\n");
            sb.Append(CultureInfo.InvariantCulture, $"relay.max_circuits: {Relay.MaxCircuits} (per peer: {Relay.MaxCircuitsPerPeer})\n");
            sb.Append(CultureInfo.InvariantCulture, $"relay.data_limit: {(Relay.DataLimit == 0 ? "unlimited" : Relay.DataLimit + " bytes")}\n");
            sb.Append("relay.duration_limit: ").Append(Relay.DurationLimit <= TimeSpan.Zero ? "unlimited" : GoDuration.Format(Relay.DurationLimit)).Append('\n');
        }
        if (Relay.Connect.Count > 0)
        {
            sb.Append("relay.connect: ").Append(string.Join(", ", Relay.Connect)).Append('\n');
        }
        sb.Append("log.level: ").Append(Log.Level).Append('\n');
        sb.Append("log.format: ").Append(Log.Format);
        return sb.ToString();
    }

    public override string ToString() => Describe();
}

/// <summary>The node's relay settings: the relay service (<c>--relay-mode</c>) and the relays it listens through.</summary>
internal sealed record NodeRelaySettings
{
    public bool Enabled { get; init; }

    /// <summary>Relay multiaddrs ending in /p2p/&lt;relay&gt; (<c>--connect-relay</c>).</summary>
    public IReadOnlyList<string> Connect { get; init; } = [];

    public int MaxReservations { get; init; } = 128;

    public int MaxReservationsPerIp { get; init; } = 16;

    public TimeSpan ReservationTtl { get; init; } = TimeSpan.FromHours(1);

    public int MaxCircuits { get; init; } = 1024;

    public int MaxCircuitsPerPeer { get; init; } = 64;

    /// <summary>Bytes per direction per relayed connection; 0 = unlimited.</summary>
    public ulong DataLimit { get; init; }

    /// <summary>Per relayed connection; zero = unlimited.</summary>
    public TimeSpan DurationLimit { get; init; }

    public Bethrou.Libp2p.Protocols.Relay.RelayServiceOptions ToServiceOptions() => new()
    {
        MaxReservations = MaxReservations,
        MaxReservationsPerIp = MaxReservationsPerIp,
        ReservationTtl = ReservationTtl,
        MaxCircuits = MaxCircuits,
        MaxCircuitsPerPeer = MaxCircuitsPerPeer,
        DataLimit = DataLimit,
        DurationLimit = DurationLimit,
    };

    /// <summary>Parses a byte count: digits with an optional suffix B, KiB, MiB, GiB, TiB (or K, M, G, T, all powers of 1024).</summary>
    public static bool TryParseSize(string text, out ulong bytes)
    {
        bytes = 0;
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && char.IsAsciiDigit(t[i]))
        {
            i++;
        }
        if (i == 0 || !ulong.TryParse(t.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }
        var shift = t[i..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            "T" or "TB" or "TIB" => 40,
            _ => -1,
        };
        if (shift < 0 || (shift > 0 && n > ulong.MaxValue >> shift))
        {
            return false;
        }
        bytes = n << shift;
        return true;
    }
}

/// <summary>Command-line values for the exit node; null/empty means "not given".</summary>
internal sealed class NodeOverrides
{
    public string? KeyPath { get; init; }

    public string? IdentityPath { get; init; }

    /// <summary>Repeated <c>--listen</c>; replaces the file's and env's list.</summary>
    public IReadOnlyList<string>? Listen { get; init; }

    public IReadOnlyList<string>? Announce { get; init; }

    public bool? AllowPrivate { get; init; }

    public IReadOnlyList<int>? DeniedPorts { get; init; }

    public IReadOnlyList<string>? AllowedPeers { get; init; }

    public int? MaxStreams { get; init; }

    public int? MaxStreamsPerPeer { get; init; }

    public string? DialTimeout { get; init; }

    public string? LogLevel { get; init; }

    public string? LogFormat { get; init; }

    /// <summary><c>--relay-mode</c>; null = not given.</summary>
    public bool? RelayMode { get; init; }

    /// <summary>Repeated <c>--connect-relay</c>; replaces the file's and env's list.</summary>
    public IReadOnlyList<string>? ConnectRelay { get; init; }

    public static NodeOverrides None { get; } = new();
}

/// <summary>Loads <see cref="NodeConfig"/>; same layering and error collection as <see cref="ClientConfigLoader"/>.</summary>
internal static class NodeConfigLoader
{
    public static class Env
    {
        public const string Config = "BETHROU_CONFIG";
        public const string Key = "BETHROU_KEY";
        public const string Identity = "BETHROU_IDENTITY";
        public const string Listen = "BETHROU_LISTEN";
        public const string Announce = "BETHROU_ANNOUNCE";
        public const string AllowPrivate = "BETHROU_ALLOW_PRIVATE";
        public const string DeniedPorts = "BETHROU_DENIED_PORTS";
        public const string AllowedPeers = "BETHROU_ALLOWED_PEERS";
        public const string MaxStreams = "BETHROU_MAX_STREAMS";
        public const string MaxStreamsPerPeer = "BETHROU_MAX_STREAMS_PER_PEER";
        public const string DialTimeout = "BETHROU_DIAL_TIMEOUT";
        public const string LogLevel = "BETHROU_LOG_LEVEL";
        public const string LogFormat = "BETHROU_LOG_FORMAT";
        public const string RelayMode = "BETHROU_RELAY_MODE";
        public const string ConnectRelay = "BETHROU_CONNECT_RELAY";
    }

    public static NodeConfig Load(
        string? path,
        IReadOnlyDictionary<string, string> env,
        NodeOverrides flags,
        Func<string, string?>? validateMultiaddr = null,
        Func<string, string>? readFile = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(flags);
        var layers = new ConfigLayers(Schema(validateMultiaddr));

        var (configPath, pathOrigin) = path is not null ? (path, "--config")
            : ClientConfigLoader.FirstEnv(env, Env.Config, null) is { } e ? (e.Value, e.Name) : ((string?)null, (string?)null);
        if (configPath is not null)
        {
            ClientConfigLoader.LoadFile(layers, configPath, pathOrigin!, readFile ?? File.ReadAllText);
        }

        foreach (var (name, configKey) in (ReadOnlySpan<(string, string)>)
        [
            (Env.Key, "key"), (Env.Identity, "identity"), (Env.Listen, "listen"), (Env.Announce, "announce"),
            (Env.AllowPrivate, "exit.allow_private"), (Env.DeniedPorts, "exit.denied_ports"),
            (Env.AllowedPeers, "exit.allowed_peers"), (Env.MaxStreams, "exit.max_streams"),
            (Env.MaxStreamsPerPeer, "exit.max_streams_per_peer"), (Env.DialTimeout, "exit.dial_timeout"),
            (Env.LogLevel, "log.level"), (Env.LogFormat, "log.format"),
            (Env.RelayMode, "relay.enabled"), (Env.ConnectRelay, "relay.connect"),
        ])
        {
            if (env.TryGetValue(name, out var value))
            {
                layers.ApplyText(configKey, value, name);
            }
        }

        layers.ApplyText("key", flags.KeyPath, "--key");
        layers.ApplyText("identity", flags.IdentityPath, "--identity");
        if (flags.Listen is { Count: > 0 })
        {
            layers.ApplyValue("listen", CheckAddrs(flags.Listen, "--listen", validateMultiaddr, layers), "--listen");
        }
        if (flags.Announce is { Count: > 0 })
        {
            layers.ApplyValue("announce", CheckAddrs(flags.Announce, "--announce", validateMultiaddr, layers), "--announce");
        }
        layers.ApplyValue("exit.allow_private", flags.AllowPrivate, "--allow-private");
        if (flags.DeniedPorts is { Count: > 0 })
        {
            layers.ApplyValue("exit.denied_ports", CheckPorts(flags.DeniedPorts, "--deny-port", layers), "--deny-port");
        }
        if (flags.AllowedPeers is { Count: > 0 })
        {
            layers.ApplyValue("exit.allowed_peers", ParsePeers(flags.AllowedPeers, "--allow-peer", layers), "--allow-peer");
        }
        layers.ApplyValue("exit.max_streams", flags.MaxStreams, "--max-streams");
        layers.ApplyValue("exit.max_streams_per_peer", flags.MaxStreamsPerPeer, "--max-streams-per-peer");
        layers.ApplyText("exit.dial_timeout", flags.DialTimeout, "--dial-timeout");
        layers.ApplyText("log.level", flags.LogLevel, "--log-level");
        layers.ApplyText("log.format", flags.LogFormat, "--log-format");
        layers.ApplyValue("relay.enabled", flags.RelayMode, "--relay-mode");
        if (flags.ConnectRelay is { Count: > 0 })
        {
            layers.ApplyValue("relay.connect", CheckRelayAddrs(flags.ConnectRelay, "--connect-relay", layers), "--connect-relay");
        }

        var key = layers.Get<string>("key");
        if (key is null && !layers.HadError("key") && !layers.SourceFailed)
        {
            layers.AddError($"no network key file: set 'key' in the config file, --key or {Env.Key}");
        }
        var maxStreams = layers.GetOrDefault("exit.max_streams", ExitOptions.DefaultMaxConcurrentStreams);
        var maxPerPeer = layers.GetOrDefault("exit.max_streams_per_peer", ExitOptions.DefaultMaxConcurrentStreamsPerPeer);
        if (maxPerPeer > maxStreams)
        {
            layers.AddError(string.Create(CultureInfo.InvariantCulture,
                $"{layers.OriginOf("exit.max_streams_per_peer")}: {maxPerPeer} streams per peer exceeds the global limit of {maxStreams} ({layers.OriginOf("exit.max_streams")})"));
        }
        if (layers.Errors.Count > 0)
        {
            var subject = configPath is null ? "invalid node configuration" : $"invalid node configuration ({configPath})";
            throw new ConfigException(subject, layers.Errors);
        }
        return new NodeConfig(
            key!,
            layers.GetOrDefault("identity", NodeConfig.DefaultIdentityPath),
            layers.GetOrDefault<List<string>>("listen", [NodeConfig.DefaultListen]),
            layers.GetOrDefault<List<string>>("announce", []),
            layers.GetOrDefault("exit.allow_private", false),
            layers.GetOrDefault<List<int>>("exit.denied_ports", []),
            layers.Get<List<PeerId>>("exit.allowed_peers"),
            maxStreams,
            maxPerPeer,
            layers.GetOrDefault("exit.dial_timeout", TimeSpan.FromSeconds(10)),
            new LogSettings(
                ClientConfigLoader.NormalizeLevel(layers.GetOrDefault("log.level", "info")),
                layers.GetOrDefault("log.format", "text").ToLowerInvariant()),
            configPath)
        {
            Relay = new NodeRelaySettings
            {
                Enabled = layers.GetOrDefault("relay.enabled", false),
                Connect = layers.GetOrDefault<List<string>>("relay.connect", []),
                MaxReservations = layers.GetOrDefault("relay.max_reservations", 128),
                MaxReservationsPerIp = layers.GetOrDefault("relay.max_reservations_per_ip", 16),
                ReservationTtl = layers.GetOrDefault("relay.reservation_ttl", TimeSpan.FromHours(1)),
                MaxCircuits = layers.GetOrDefault("relay.max_circuits", 1024),
                MaxCircuitsPerPeer = layers.GetOrDefault("relay.max_circuits_per_peer", 64),
                DataLimit = layers.GetOrDefault("relay.data_limit", 0UL),
                DurationLimit = layers.GetOrDefault("relay.duration_limit", TimeSpan.Zero),
            },
        };
    }

    private static List<string>? CheckRelayAddrs(IReadOnlyList<string> addrs, string origin, ConfigLayers layers)
    {
        var ok = true;
        foreach (var a in addrs)
        {
            string? problem = null;
            if (!Multiaddress.TryParse(a, out var ma, out var error))
            {
                problem = error;
            }
            else if (ma.IsRelayed)
            {
                problem = "a relay address must not itself contain /p2p-circuit";
            }
            else if (ma.PeerId is null)
            {
                problem = "a relay address must end with /p2p/<relay peer id>";
            }
            if (problem is not null)
            {
                layers.AddError($"{origin}: '{a}': {problem}");
                ok = false;
            }
        }
        return ok ? [.. addrs] : null;
    }

    private static object? ParseSize(string text, string origin, ConfigLayers layers)
    {
        if (NodeRelaySettings.TryParseSize(text, out var bytes))
        {
            return bytes;
        }
        layers.AddError($"{origin}: '{text}' is not a byte count (digits with an optional B, KiB, MiB, GiB or TiB suffix)");
        return null;
    }

    private static IEnumerable<ConfigKey> Schema(Func<string, string?>? validateMultiaddr) =>
    [
        new("key", ConfigValueKind.String),
        new("identity", ConfigValueKind.String),
        AddrList("listen", validateMultiaddr),
        AddrList("announce", validateMultiaddr),
        new("exit.allow_private", ConfigValueKind.Bool),
        new("exit.denied_ports", ConfigValueKind.Custom, null,
            (node, path, layers) => layers.ReadStringList(node, ConfigLayers.At(path, node)) is { } list
                ? ParsePorts(list, ConfigLayers.At(path, node), layers) : null,
            (text, origin, layers) => ParsePorts(ConfigLayers.SplitList(text), origin, layers)),
        new("exit.allowed_peers", ConfigValueKind.Custom, null,
            (node, path, layers) => layers.ReadStringList(node, ConfigLayers.At(path, node)) is { } list
                ? ParsePeers(list, ConfigLayers.At(path, node), layers) : null,
            (text, origin, layers) => ParsePeers(ConfigLayers.SplitList(text), origin, layers)),
        new("exit.max_streams", ConfigValueKind.Int, v => (int)v < 1 ? "must be at least 1" : null),
        new("exit.max_streams_per_peer", ConfigValueKind.Int, v => (int)v < 1 ? "must be at least 1" : null),
        new("exit.dial_timeout", ConfigValueKind.Duration),
        new("log.level", ConfigValueKind.String, v => ClientConfigLoader.CheckChoice("log level", (string)v, LogLevels.All)),
        new("log.format", ConfigValueKind.String, v => ClientConfigLoader.CheckChoice("log format", (string)v, ["text", "json"])),
        new("relay.enabled", ConfigValueKind.Bool),
        new("relay.connect", ConfigValueKind.Custom, null,
            (node, path, layers) => layers.ReadStringList(node, ConfigLayers.At(path, node)) is { } list
                ? CheckRelayAddrs(list, ConfigLayers.At(path, node), layers) : null,
            (text, origin, layers) => CheckRelayAddrs(ConfigLayers.SplitList(text), origin, layers)),
        new("relay.max_reservations", ConfigValueKind.Int, v => (int)v < 1 ? "must be at least 1" : null),
        new("relay.max_reservations_per_ip", ConfigValueKind.Int, v => (int)v < 0 ? "must be 0 (no limit) or more" : null),
        new("relay.reservation_ttl", ConfigValueKind.Duration, v => (TimeSpan)v < TimeSpan.FromSeconds(1) ? "must be at least 1s" : null),
        new("relay.max_circuits", ConfigValueKind.Int, v => (int)v < 1 ? "must be at least 1" : null),
        new("relay.max_circuits_per_peer", ConfigValueKind.Int, v => (int)v < 1 ? "must be at least 1" : null),
        new("relay.data_limit", ConfigValueKind.Custom, null,
            (node, path, layers) => node is YamlScalarNode scalar && scalar.Value is { } v
                ? ParseSize(v, ConfigLayers.At(path, node), layers) : ParseSize(ConfigLayers.Describe(node), ConfigLayers.At(path, node), layers),
            ParseSize),
        new("relay.duration_limit", ConfigValueKind.Duration, v => (TimeSpan)v < TimeSpan.Zero ? "must not be negative" : null),
    ];

    private static ConfigKey AddrList(string path, Func<string, string?>? validateMultiaddr) =>
        new(path, ConfigValueKind.Custom, null,
            (node, p, layers) => layers.ReadStringList(node, ConfigLayers.At(p, node)) is { } list
                ? CheckAddrs(list, ConfigLayers.At(p, node), validateMultiaddr, layers) : null,
            (text, origin, layers) => CheckAddrs(ConfigLayers.SplitList(text), origin, validateMultiaddr, layers));

    private static List<string>? CheckAddrs(IReadOnlyList<string> addrs, string origin, Func<string, string?>? validate, ConfigLayers layers)
    {
        var ok = true;
        foreach (var a in addrs)
        {
            if (validate?.Invoke(a) is { } problem)
            {
                layers.AddError($"{origin}: '{a}': {problem}");
                ok = false;
            }
        }
        return ok ? [.. addrs] : null;
    }

    private static List<int>? ParsePorts(IReadOnlyList<string> items, string origin, ConfigLayers layers)
    {
        var ports = new List<int>();
        var ok = true;
        foreach (var item in items)
        {
            if (int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 1 and <= 65535)
            {
                ports.Add(p);
            }
            else
            {
                layers.AddError($"{origin}: '{item}' is not a port number (1-65535)");
                ok = false;
            }
        }
        return ok ? ports : null;
    }

    private static List<int>? CheckPorts(IReadOnlyList<int> ports, string origin, ConfigLayers layers) =>
        ParsePorts([.. ports.Select(p => p.ToString(CultureInfo.InvariantCulture))], origin, layers);

    private static List<PeerId>? ParsePeers(IReadOnlyList<string> items, string origin, ConfigLayers layers)
    {
        var peers = new List<PeerId>();
        var ok = true;
        foreach (var item in items)
        {
            if (PeerId.TryParse(item, out var id, out var error))
            {
                peers.Add(id);
            }
            else
            {
                layers.AddError($"{origin}: {error}");
                ok = false;
            }
        }
        return ok ? peers : null;
    }
}
