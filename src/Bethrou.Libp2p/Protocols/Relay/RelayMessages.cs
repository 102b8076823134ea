using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>Circuit relay v2 protocol ids and limits (libp2p-wire.md §9).</summary>
public static class RelayProtocol
{
    /// <summary>Client ↔ relay: RESERVE and CONNECT.</summary>
    public const string HopProtocolId = "/libp2p/circuit/relay/0.2.0/hop";

    /// <summary>Relay → reserved peer: an incoming circuit.</summary>
    public const string StopProtocolId = "/libp2p/circuit/relay/0.2.0/stop";

    /// <summary>Largest HopMessage/StopMessage accepted (go's limit).</summary>
    public const int MaxMessageSize = 4096;
}

/// <summary>HopMessage.Type. RESERVE is 0 and must still be written (08 00).</summary>
public enum HopMessageType
{
    Reserve = 0,
    Connect = 1,
    Status = 2,
}

/// <summary>StopMessage.Type. CONNECT is 0 and must still be written (08 00).</summary>
public enum StopMessageType
{
    Connect = 0,
    Status = 1,
}

/// <summary>Circuit relay v2 status codes.</summary>
public enum RelayStatus
{
    Unused = 0,
    Ok = 100,
    ReservationRefused = 200,
    ResourceLimitExceeded = 201,
    PermissionDenied = 202,
    ConnectionFailed = 203,
    NoReservation = 204,
    MalformedMessage = 400,
    UnexpectedMessage = 401,
}

/// <summary>Peer { id, addrs }: the id is the PeerId multihash; addresses the codec cannot parse are skipped.</summary>
public sealed record RelayPeer(PeerId Id, IReadOnlyList<Multiaddress> Addrs)
{
    public RelayPeer(PeerId id)
        : this(id, [])
    {
    }
}

/// <summary>Reservation { expire (unix seconds), addrs (the relay's, with /p2p/relay), voucher (signed envelope) }.</summary>
public sealed record RelayReservation(ulong Expire, IReadOnlyList<Multiaddress> Addrs, byte[]? Voucher);

/// <summary>
/// Limit { duration, data }: 0 means none. The spec gives <see cref="Duration"/> in seconds; js-libp2p's relay sends
/// milliseconds, so a client must treat the value as a hint only.
/// </summary>
public sealed record RelayLimit(uint Duration, ulong Data)
{
    public bool IsUnlimited => Duration == 0 && Data == 0;
}

/// <summary>HopMessage (client ↔ relay). A null field is absent on the wire.</summary>
public sealed record HopMessage(HopMessageType Type)
{
    public RelayPeer? Peer { get; init; }

    public RelayReservation? Reservation { get; init; }

    public RelayLimit? Limit { get; init; }

    public RelayStatus? Status { get; init; }

    public static HopMessage Reserve() => new(HopMessageType.Reserve);

    public static HopMessage Connect(PeerId target) => new(HopMessageType.Connect) { Peer = new RelayPeer(target) };

    public static HopMessage FromStatus(RelayStatus status) => new(HopMessageType.Status) { Status = status };
}

/// <summary>StopMessage (relay → reserved peer). A null field is absent on the wire.</summary>
public sealed record StopMessage(StopMessageType Type)
{
    public RelayPeer? Peer { get; init; }

    public RelayLimit? Limit { get; init; }

    public RelayStatus? Status { get; init; }

    public static StopMessage FromStatus(RelayStatus status) => new(StopMessageType.Status) { Status = status };
}

/// <summary>A relay protocol failure: a refusal by status, or a malformed/unexpected message.</summary>
public sealed class RelayException : IOException
{
    public RelayException(RelayStatus status, string message)
        : base(message)
    {
        Status = status;
    }

    public RelayException(RelayStatus status, string message, Exception inner)
        : base(message, inner)
    {
        Status = status;
    }

    /// <summary>The status the remote sent, or the one this side answers with (MALFORMED_MESSAGE, ...).</summary>
    public RelayStatus Status { get; }
}
