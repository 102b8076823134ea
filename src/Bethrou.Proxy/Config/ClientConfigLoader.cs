using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Proxy.Config;

/// <summary>
/// Loads the client configuration: defaults, then the YAML file (Go keys), then BETHROU_* variables, then flags;
/// every problem from every layer is collected and thrown together as one <see cref="ConfigException"/>.
/// Unlike Go: every section is optional, unknown keys are errors (with a "did you mean"), and a config file that
/// was named explicitly but does not exist is an error.
/// </summary>
internal static class ClientConfigLoader
{
    /// <summary>Environment variables read by <see cref="Load"/>.</summary>
    public static class Env
    {
        public const string Config = "BETHROU_CONFIG";
        public const string GoConfig = "BETHROU_CLIENT_CONFIG";
        public const string Key = "BETHROU_KEY";
        public const string GoKey = "BETHROU_CLIENT_KEY";
        public const string IdentityKey = "BETHROU_IDENTITY_KEY";
        public const string GoIdentityKey = "BETHROU_CLIENT_IDENTITY_KEY";
        public const string Listen = "BETHROU_LISTEN";
        public const string Nodes = "BETHROU_NODES";
        public const string Strategy = "BETHROU_STRATEGY";
        public const string Health = "BETHROU_HEALTH";
        public const string Timeout = "BETHROU_TIMEOUT";
        public const string FastOpen = "BETHROU_FAST_OPEN";
        public const string HandshakeTimeout = "BETHROU_HANDSHAKE_TIMEOUT";
        public const string SocksUser = "BETHROU_SOCKS_USER";
        public const string SocksPass = "BETHROU_SOCKS_PASS";
        public const string AllowInsecureBind = "BETHROU_ALLOW_INSECURE_BIND";
        public const string LogLevel = "BETHROU_LOG_LEVEL";
        public const string LogFormat = "BETHROU_LOG_FORMAT";
    }

    /// <summary>Keys of Go V2's control-plane client that this client does not implement.</summary>
    private static readonly Dictionary<string, string> RetiredKeys = new(StringComparer.Ordinal)
    {
        ["api_url"] = "it belongs to the Go V2 control-plane client; list exit nodes under 'nodes' instead",
        ["target_nodes"] = "it belongs to the Go V2 control-plane client; list exit nodes under 'nodes' instead",
    };

    /// <param name="path">The <c>--config</c> flag; when null, BETHROU_CONFIG / BETHROU_CLIENT_CONFIG; when none, no file.</param>
    /// <param name="env">Environment variables (only BETHROU_* are read).</param>
    /// <param name="flags">Command-line values.</param>
    /// <param name="validateMultiaddr">Optional multiaddr check: returns the problem, or null when valid.</param>
    /// <param name="readFile">File reader (tests); defaults to <see cref="File.ReadAllText(string)"/>.</param>
    public static ClientConfig Load(
        string? path,
        IReadOnlyDictionary<string, string> env,
        ClientOverrides flags,
        Func<string, string?>? validateMultiaddr = null,
        Func<string, string>? readFile = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(flags);
        var nodeParser = new NodeEntryParser(validateMultiaddr);
        var layers = new ConfigLayers(Schema(nodeParser), RetiredKeys);

        var (configPath, pathOrigin) = path is not null ? (path, "--config")
            : FirstEnv(env, Env.Config, Env.GoConfig) is { } e ? (e.Value, e.Name) : ((string?)null, (string?)null);
        if (configPath is not null)
        {
            LoadFile(layers, configPath, pathOrigin!, readFile ?? File.ReadAllText);
        }

        ApplyEnv(layers, env, Env.Key, Env.GoKey, "key");
        ApplyEnv(layers, env, Env.IdentityKey, Env.GoIdentityKey, "identity_key");
        ApplyEnv(layers, env, Env.Listen, null, "server.listen");
        ApplyEnv(layers, env, Env.Nodes, null, "nodes");
        ApplyEnv(layers, env, Env.Strategy, null, "routing.strategy");
        ApplyEnv(layers, env, Env.Health, null, "routing.health");
        ApplyEnv(layers, env, Env.Timeout, null, "routing.timeout");
        ApplyEnv(layers, env, Env.FastOpen, null, "routing.fast_open");
        ApplyEnv(layers, env, Env.HandshakeTimeout, null, "server.handshake_timeout");
        ApplyEnv(layers, env, Env.SocksUser, null, "server.user");
        ApplyEnv(layers, env, Env.SocksPass, null, "server.pass");
        ApplyEnv(layers, env, Env.AllowInsecureBind, null, "server.allow_insecure_bind");
        ApplyEnv(layers, env, Env.LogLevel, null, "log.level");
        ApplyEnv(layers, env, Env.LogFormat, null, "log.format");

        layers.ApplyText("key", flags.KeyPath, "--key");
        layers.ApplyText("identity_key", flags.IdentityKeyPath, "--identity-key");
        layers.ApplyText("server.listen", flags.Listen, "--listen");
        if (flags.Nodes is { Count: > 0 } nodes)
        {
            layers.ApplyValue("nodes", nodeParser.ParseMultiaddrs(nodes, "--node", layers), "--node");
        }
        layers.ApplyText("routing.strategy", flags.Strategy, "--strategy");
        layers.ApplyText("routing.health", flags.Health, "--health");
        layers.ApplyText("routing.timeout", flags.Timeout, "--timeout");
        layers.ApplyValue("routing.fast_open", flags.FastOpen, "--fast-open");
        layers.ApplyText("server.handshake_timeout", flags.HandshakeTimeout, "--handshake-timeout");
        layers.ApplyText("server.user", flags.SocksUser, "--socks-user");
        layers.ApplyText("server.pass", flags.SocksPass, "--socks-pass");
        layers.ApplyValue("server.allow_insecure_bind", flags.AllowInsecureBind, "--allow-insecure-bind");
        layers.ApplyText("log.level", flags.LogLevel, "--log-level");
        layers.ApplyText("log.format", flags.LogFormat, "--log-format");

        var config = Build(layers, configPath, nodeParser.SawEntries);
        if (layers.Errors.Count > 0)
        {
            var subject = configPath is null ? "invalid client configuration" : $"invalid client configuration ({configPath})";
            throw new ConfigException(subject, layers.Errors);
        }
        return config!;
    }

    internal static IEnumerable<ConfigKey> Schema(NodeEntryParser nodeParser) =>
    [
        new("key", ConfigValueKind.String),
        new("identity_key", ConfigValueKind.String),
        new("server.listen", ConfigValueKind.String,
            v => ListenAddress.TryParse((string)v, out _, out var e) ? null : e),
        new("server.auth", ConfigValueKind.Bool),
        new("server.user", ConfigValueKind.String),
        new("server.pass", ConfigValueKind.String),
        new("server.allow_insecure_bind", ConfigValueKind.Bool),
        new("server.handshake_timeout", ConfigValueKind.Duration),
        new("routing.strategy", ConfigValueKind.String, v => CheckChoice("strategy", (string)v, RoutingStrategies.All)),
        new("routing.health", ConfigValueKind.Duration),
        new("routing.timeout", ConfigValueKind.Duration),
        new("routing.fast_open", ConfigValueKind.Bool),
        new("nodes", ConfigValueKind.Custom, null, nodeParser.ParseYaml, nodeParser.ParseText),
        new("discovery.enabled", ConfigValueKind.Bool),
        new("discovery.address", ConfigValueKind.String),
        new("discovery.topic", ConfigValueKind.String),
        new("discovery.timeout", ConfigValueKind.Duration),
        new("discovery.user", ConfigValueKind.String),
        new("discovery.pass", ConfigValueKind.String),
        new("log.level", ConfigValueKind.String, v => CheckChoice("log level", (string)v, LogLevels.All)),
        new("log.format", ConfigValueKind.String, v => CheckChoice("log format", (string)v, ["text", "json"])),
    ];

    internal static string? CheckChoice(string what, string value, IReadOnlyList<string> allowed)
    {
        if (allowed.Contains(value, StringComparer.OrdinalIgnoreCase))
        {
            return null;
        }
        var list = allowed.Count <= 2
            ? string.Join(" or ", allowed)
            : string.Join(", ", allowed.Take(allowed.Count - 1)) + " or " + allowed[^1];
        var hint = ConfigLayers.Suggest(value, allowed) is { } s ? $"; did you mean '{s}'?" : "";
        return $"unknown {what} '{value}' (expected {list}{hint})";
    }

    internal static void LoadFile(ConfigLayers layers, string path, string origin, Func<string, string> readFile)
    {
        string text;
        try
        {
            text = readFile(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            layers.AddError($"config file '{path}' (from {origin}) does not exist");
            layers.SourceFailed = true;
            return;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            layers.AddError($"config file '{path}' (from {origin}) cannot be read: {ex.Message}");
            layers.SourceFailed = true;
            return;
        }
        layers.ApplyYaml(text);
    }

    internal static (string Name, string Value)? FirstEnv(IReadOnlyDictionary<string, string> env, string name, string? goName)
    {
        if (env.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v))
        {
            return (name, v);
        }
        if (goName is not null && env.TryGetValue(goName, out var g) && !string.IsNullOrWhiteSpace(g))
        {
            return (goName, g);
        }
        return null;
    }

    private static void ApplyEnv(ConfigLayers layers, IReadOnlyDictionary<string, string> env, string name, string? goName, string path)
    {
        if (FirstEnv(env, name, goName) is { } e)
        {
            layers.ApplyText(path, e.Value, e.Name);
        }
    }

    /// <summary>Combines the layers into a config and adds the cross-field errors.</summary>
    private static ClientConfig? Build(ConfigLayers layers, string? configPath, bool nodesListed)
    {
        var key = layers.Get<string>("key");
        if (key is null && !layers.HadError("key") && !layers.SourceFailed)
        {
            layers.AddError($"no network key file: set 'key' in the config file, --key or {Env.Key}");
        }

        if (!ListenAddress.TryParse(layers.GetOrDefault("server.listen", ClientConfig.DefaultListen), out var listen, out _))
        {
            listen = new ListenAddress("127.0.0.1", 1080); // the bad value was already reported by its layer
        }
        var user = layers.Get<string>("server.user");
        var pass = layers.Get<string>("server.pass");
        // auth defaults to on when credentials are given; an explicit value wins.
        var auth = layers.IsSet("server.auth") ? layers.Get<bool>("server.auth") : user is not null && pass is not null;
        var authOrigin = layers.IsSet("server.auth") ? layers.OriginOf("server.auth") : "server.auth (on because a user and password are set)";
        if (auth && user is null)
        {
            layers.AddError($"{authOrigin}: authentication is on but no user is set (server.user, --socks-user or {Env.SocksUser})");
        }
        if (auth && pass is null)
        {
            layers.AddError($"{authOrigin}: authentication is on but no password is set (server.pass, --socks-pass or {Env.SocksPass})");
        }
        var insecure = layers.GetOrDefault("server.allow_insecure_bind", false);
        if (!auth && !insecure && layers.IsSet("server.listen") && !listen.IsLoopback && listen.Host.Length > 0)
        {
            layers.AddError(
                $"{layers.OriginOf("server.listen")}: listening on {listen} without authentication would be an open proxy; " +
                "set server.auth with user and pass, or server.allow_insecure_bind: true (--allow-insecure-bind)");
        }

        var discoveryEnabled = layers.GetOrDefault("discovery.enabled", false);
        var discoveryAddress = layers.Get<string>("discovery.address");
        var discoveryTopic = layers.Get<string>("discovery.topic");
        if (discoveryEnabled && discoveryAddress is null)
        {
            layers.AddError($"{layers.OriginOf("discovery.enabled")}: discovery is enabled but discovery.address is not set");
        }
        if (discoveryEnabled && discoveryTopic is null)
        {
            layers.AddError($"{layers.OriginOf("discovery.enabled")}: discovery is enabled but discovery.topic is not set");
        }

        var nodes = layers.GetOrDefault<List<ExitNodeEntry>>("nodes", []);
        var seen = new Dictionary<PeerId, int>();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (!seen.TryAdd(nodes[i].Id, i))
            {
                layers.AddError($"{layers.OriginOf("nodes")}: node {nodes[i].Id} is listed more than once");
            }
        }
        if (nodes.Count == 0 && !discoveryEnabled && !nodesListed && !layers.HadError("nodes") && !layers.SourceFailed)
        {
            layers.AddError($"no exit nodes: list them under 'nodes' in the config file, pass --node <multiaddr>, set {Env.Nodes}, or enable discovery");
        }

        if (layers.Errors.Count > 0)
        {
            return null;
        }
        return new ClientConfig(
            key!,
            layers.Get<string>("identity_key"),
            new ServerSettings(listen, auth, user, pass, insecure,
                layers.GetOrDefault("server.handshake_timeout", ClientConfig.DefaultHandshakeTimeout)),
            new RoutingSettings(
                layers.GetOrDefault("routing.strategy", RoutingStrategies.Random).ToLowerInvariant(),
                layers.GetOrDefault("routing.health", ClientConfig.DefaultHealth),
                layers.GetOrDefault("routing.timeout", ClientConfig.DefaultTimeout),
                layers.GetOrDefault("routing.fast_open", false)),
            nodes,
            new DiscoverySettings(
                discoveryEnabled, discoveryAddress, discoveryTopic,
                layers.GetOrDefault("discovery.timeout", ClientConfig.DefaultDiscoveryTimeout),
                layers.Get<string>("discovery.user"), layers.Get<string>("discovery.pass")),
            new LogSettings(
                NormalizeLevel(layers.GetOrDefault("log.level", "info")),
                layers.GetOrDefault("log.format", "text").ToLowerInvariant()),
            configPath);
    }

    internal static string NormalizeLevel(string level) =>
        level.ToLowerInvariant() is "warning" ? "warn" : level.ToLowerInvariant();
}
