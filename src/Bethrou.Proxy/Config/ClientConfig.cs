using System.Globalization;
using System.Text;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Proxy.Config;

/// <summary>Routing strategy names accepted in <c>routing.strategy</c>.</summary>
internal static class RoutingStrategies
{
    public const string Random = "random";
    public const string RoundRobin = "round-robin";
    public const string Fastest = "fastest";
    public const string LeastLoaded = "least-loaded";

    public static readonly IReadOnlyList<string> All = [Random, RoundRobin, Fastest, LeastLoaded];
}

/// <summary>Log levels accepted in <c>log.level</c> (Go's, plus trace).</summary>
internal static class LogLevels
{
    public static readonly IReadOnlyList<string> All = ["trace", "debug", "info", "warn", "warning", "error"];
}

/// <summary>One exit node to connect to. <see cref="Id"/> is always known (explicit or from <c>/p2p/</c>).</summary>
internal sealed record ExitNodeEntry(PeerId Id, IReadOnlyList<string> Addrs, string? Relay);

/// <param name="HandshakeTimeout">How long a SOCKS client may take from connecting to a complete request (not in Go's
/// client.yaml; Go has no such limit).</param>
internal sealed record ServerSettings(
    ListenAddress Listen, bool Auth, string? User, string? Pass, bool AllowInsecureBind, TimeSpan HandshakeTimeout);

/// <param name="FastOpen">Answer the SOCKS CONNECT at once and send the application's first bytes with the proxy request,
/// to exits that keep them (<c>/bethrou/proxy/1.1.0</c>); not a Go key. Saves one round trip to the exit per
/// connection; a refused destination then resets the connection instead of getting its SOCKS reply code.</param>
internal sealed record RoutingSettings(string Strategy, TimeSpan Health, TimeSpan Timeout, bool FastOpen = false);

internal sealed record DiscoverySettings(
    bool Enabled, string? Address, string? Topic, TimeSpan Timeout, string? User, string? Pass);

internal sealed record LogSettings(string Level, string Format);

/// <summary>
/// The client configuration after layering (defaults → client.yaml → BETHROU_* → flags) and validation.
/// Keys are Go Bethrou's (reference §1b); every section is optional.
/// </summary>
internal sealed record ClientConfig(
    string KeyPath,
    string? IdentityKeyPath,
    ServerSettings Server,
    RoutingSettings Routing,
    IReadOnlyList<ExitNodeEntry> Nodes,
    DiscoverySettings Discovery,
    LogSettings Log,
    string? SourcePath)
{
    public const string DefaultListen = "127.0.0.1:1080";
    public static readonly TimeSpan DefaultHealth = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultDiscoveryTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A YAML-like dump with passwords (and URL passwords) replaced by <c>*****</c>. Safe to log.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        Line(sb, "config", SourcePath ?? "(none: defaults, environment and flags)");
        Line(sb, "key", KeyPath);
        Line(sb, "identity_key", IdentityKeyPath ?? "(ephemeral)");
        Line(sb, "server.listen", Server.Listen.ToString());
        Line(sb, "server.auth", Server.Auth ? "true" : "false");
        Line(sb, "server.user", Server.User);
        Line(sb, "server.pass", Secrets.Mask(Server.Pass));
        Line(sb, "server.allow_insecure_bind", Server.AllowInsecureBind ? "true" : "false");
        Line(sb, "server.handshake_timeout", GoDuration.Format(Server.HandshakeTimeout));
        Line(sb, "routing.strategy", Routing.Strategy);
        Line(sb, "routing.health", GoDuration.Format(Routing.Health));
        Line(sb, "routing.timeout", GoDuration.Format(Routing.Timeout));
        Line(sb, "routing.fast_open", Routing.FastOpen ? "true" : "false");
        for (var i = 0; i < Nodes.Count; i++)
        {
            var n = Nodes[i];
            Line(sb, Invariant($"nodes[{i}].id"), n.Id.ToString());
            Line(sb, Invariant($"nodes[{i}].addrs"), string.Join(", ", n.Addrs));
            Line(sb, Invariant($"nodes[{i}].relay"), n.Relay);
        }
        Line(sb, "discovery.enabled", Discovery.Enabled ? "true" : "false");
        Line(sb, "discovery.address", Secrets.RedactUrl(Discovery.Address));
        Line(sb, "discovery.topic", Discovery.Topic);
        Line(sb, "discovery.timeout", GoDuration.Format(Discovery.Timeout));
        Line(sb, "discovery.user", Discovery.User);
        Line(sb, "discovery.pass", Secrets.Mask(Discovery.Pass));
        Line(sb, "log.level", Log.Level);
        Line(sb, "log.format", Log.Format);
        return sb.ToString().TrimEnd();
    }

    public override string ToString() => Describe();

    private static void Line(StringBuilder sb, string key, string? value)
    {
        if (value is not null)
        {
            sb.Append(key).Append(": ").Append(value).Append('\n');
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Redaction for anything that may reach a log.</summary>
internal static class Secrets
{
    public const string Redacted = "*****";

    public static string? Mask(string? secret) => secret is null ? null : Redacted;

    /// <summary><c>redis://user:secret@host:6379</c> → <c>redis://user:*****@host:6379</c>.</summary>
    public static string? RedactUrl(string? url)
    {
        if (url is null)
        {
            return null;
        }
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var at = url.LastIndexOf('@');
        if (scheme < 0 || at < scheme)
        {
            return url;
        }
        var userInfo = url[(scheme + 3)..at];
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return url;
        }
        return string.Concat(url.AsSpan(0, scheme + 3), userInfo.AsSpan(0, colon + 1), Redacted, url.AsSpan(at));
    }
}
