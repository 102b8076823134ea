using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>Circuit relay logging (EventIds 4000-4099): 4000-4019 relay service, 4020-4039 reservations and stop, 4040-4059 dialing.</summary>
internal static partial class RelayLog
{
    [LoggerMessage(4000, LogLevel.Information, "Circuit relay service started: {MaxReservations} reservations of {Ttl}, {MaxCircuitsPerPeer} circuits per peer, data limit {DataLimit}, duration limit {DurationLimit}")]
    public static partial void ServiceStarted(ILogger logger, int maxReservations, TimeSpan ttl, int maxCircuitsPerPeer, string dataLimit, string durationLimit);

    [LoggerMessage(4001, LogLevel.Debug, "Reservation for {Peer} accepted until {Expire}")]
    public static partial void ReservationAccepted(ILogger logger, PeerId peer, DateTimeOffset expire);

    [LoggerMessage(4002, LogLevel.Information, "Reservation for {Peer} refused ({Status}): {Reason}")]
    public static partial void ReservationRefused(ILogger logger, PeerId peer, RelayStatus status, string reason);

    [LoggerMessage(4003, LogLevel.Debug, "Circuit {Source} -> {Target} opened")]
    public static partial void CircuitOpened(ILogger logger, PeerId source, PeerId target);

    [LoggerMessage(4004, LogLevel.Debug, "Circuit {Source} -> {Target} ended ({End}): {Up} bytes up, {Down} bytes down")]
    public static partial void CircuitEnded(ILogger logger, PeerId source, PeerId target, CircuitEnd end, long up, long down);

    [LoggerMessage(4005, LogLevel.Information, "Circuit {Source} -> {Target} refused ({Status}): {Reason}")]
    public static partial void CircuitRefused(ILogger logger, PeerId source, PeerId target, RelayStatus status, string reason);

    [LoggerMessage(4006, LogLevel.Debug, "Hop request from {Peer} refused ({Status}): {Reason}")]
    public static partial void HopRefused(ILogger logger, PeerId peer, RelayStatus status, string reason);

    [LoggerMessage(4007, LogLevel.Debug, "Reservation for {Peer} dropped: {Reason}")]
    public static partial void ReservationDropped(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(4020, LogLevel.Information, "Reserved a slot on relay {Relay} until {Expire}; listening on {Address}")]
    public static partial void Reserved(ILogger logger, PeerId relay, DateTimeOffset expire, Multiaddress address);

    [LoggerMessage(4021, LogLevel.Debug, "Reservation on relay {Relay} refreshed until {Expire}")]
    public static partial void Refreshed(ILogger logger, PeerId relay, DateTimeOffset expire);

    [LoggerMessage(4022, LogLevel.Warning, "Reservation on relay {Address} failed: {Reason}; retrying in {RetryIn}")]
    public static partial void ReserveFailed(ILogger logger, Multiaddress address, string reason, TimeSpan retryIn);

    [LoggerMessage(4023, LogLevel.Warning, "Reservation on relay {Relay} lost: {Reason}")]
    public static partial void ReservationLost(ILogger logger, PeerId relay, string reason);

    [LoggerMessage(4024, LogLevel.Debug, "Incoming circuit from {Source} through relay {Relay}")]
    public static partial void IncomingCircuit(ILogger logger, PeerId source, PeerId relay);

    [LoggerMessage(4025, LogLevel.Information, "Stop request from {Relay} refused ({Status}): {Reason}")]
    public static partial void StopRefused(ILogger logger, PeerId relay, RelayStatus status, string reason);

    [LoggerMessage(4026, LogLevel.Debug, "Relay {Relay} announced limits: duration {Duration}, data {Data} (duration is seconds per the spec, js relays send milliseconds)")]
    public static partial void RelayLimits(ILogger logger, PeerId relay, uint duration, ulong data);

    [LoggerMessage(4040, LogLevel.Debug, "Relayed connection to {Target} through {Relay} established")]
    public static partial void Dialed(ILogger logger, PeerId target, Multiaddress relay);
}
