namespace Bethrou.Libp2p.Upgrade;

/// <summary>The step of the connection upgrade at which something failed.</summary>
public enum UpgradeStage
{
    Transport,
    Pnet,
    SecurityNegotiation,
    Security,
    MuxerNegotiation,
    Muxer,
}

/// <summary>A connection upgrade failed; <see cref="Stage"/> tells where.</summary>
public sealed class UpgradeException(UpgradeStage stage, string message, Exception? inner = null)
    : IOException(message, inner)
{
    public UpgradeStage Stage { get; } = stage;
}
