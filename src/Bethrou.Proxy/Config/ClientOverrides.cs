namespace Bethrou.Proxy.Config;

/// <summary>
/// Command-line values for the client; null/empty means "not given". They win over BETHROU_* variables, which win
/// over the config file. Durations and the strategy are kept as text so they are checked like every other layer.
/// </summary>
internal sealed class ClientOverrides
{
    public string? KeyPath { get; init; }

    public string? IdentityKeyPath { get; init; }

    public string? Listen { get; init; }

    /// <summary>Repeated <c>--node &lt;multiaddr&gt;</c>; when non-empty it replaces the file's and env's node list.</summary>
    public IReadOnlyList<string>? Nodes { get; init; }

    public string? Strategy { get; init; }

    public string? Health { get; init; }

    public string? Timeout { get; init; }

    public string? HandshakeTimeout { get; init; }

    public string? SocksUser { get; init; }

    public string? SocksPass { get; init; }

    public bool? AllowInsecureBind { get; init; }

    public bool? FastOpen { get; init; }

    public string? LogLevel { get; init; }

    public string? LogFormat { get; init; }

    public static ClientOverrides None { get; } = new();
}
