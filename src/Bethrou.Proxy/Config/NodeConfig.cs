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
        sb.Append("log.level: ").Append(Log.Level).Append('\n');
        sb.Append("log.format: ").Append(Log.Format);
        return sb.ToString();
    }

    public override string ToString() => Describe();
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
            configPath);
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
