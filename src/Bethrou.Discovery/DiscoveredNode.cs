using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Discovery;

/// <summary>Where a node in the directory came from (several at once when the same peer is known more than one way).</summary>
[Flags]
public enum NodeSources
{
    None = 0,

    /// <summary>Configured statically (never expires).</summary>
    Static = 1,

    /// <summary>A signed peer record read from Redis (signature and peer id checked).</summary>
    SignedRecord = 2,

    /// <summary>A reply to a Go-style discover request (unsigned unless it carried an envelope).</summary>
    GoReply = 4,
}

public enum NodeChangeKind
{
    Joined,
    Updated,
    Left,
}

/// <summary>Why a node left the directory.</summary>
public enum NodeLeftReason
{
    None,

    /// <summary>It said so: a signed leave (graceful shutdown).</summary>
    Left,

    /// <summary>Its record's TTL ran out (killed, partitioned, or stopped without cleanup).</summary>
    Expired,

    /// <summary>A Go node that did not answer three discover rounds in a row.</summary>
    NotSeen,
}

/// <summary>A node as a client sees it.</summary>
/// <param name="PeerId">The node's peer id.</param>
/// <param name="Addresses">Dialable full multiaddrs, each ending with <c>/p2p/&lt;PeerId&gt;</c>; static ones first.</param>
/// <param name="Verified">True when the addresses come from a record signed by <paramref name="PeerId"/> (or are static).</param>
/// <param name="Sources">Where the entry comes from.</param>
/// <param name="LastSeen">When a record, heartbeat check or reply last confirmed it.</param>
/// <param name="Seq">The signed record's sequence number, if any.</param>
public sealed record DiscoveredNode(
    PeerId PeerId,
    IReadOnlyList<Multiaddress> Addresses,
    bool Verified,
    NodeSources Sources,
    DateTimeOffset LastSeen,
    ulong? Seq)
{
    internal bool SameView(DiscoveredNode other) =>
        Verified == other.Verified && Sources == other.Sources && Addresses.SequenceEqual(other.Addresses);
}

/// <summary>One change to the directory; <see cref="Node"/> is the new state (the last state for <see cref="NodeChangeKind.Left"/>).</summary>
public readonly record struct NodeChange(NodeChangeKind Kind, DiscoveredNode Node, NodeLeftReason Reason);

/// <summary>A node given in the configuration; merged with discovered ones (its addresses come first, it never leaves).</summary>
public sealed record StaticNode(PeerId PeerId, IReadOnlyList<Multiaddress> Addresses);
