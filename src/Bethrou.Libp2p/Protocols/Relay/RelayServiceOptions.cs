namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>
/// Relay service (hop) limits. The defaults suit a private network whose relays carry proxy traffic: a relayed
/// connection has no data or duration limit; the number of reservations, their TTL and the circuits per peer bound
/// the relay's load instead. (go-libp2p and js-libp2p default to 128 KiB / 2 min per relayed connection.)
/// </summary>
public sealed class RelayServiceOptions
{
    /// <summary>Reservations held at once (go: 128).</summary>
    public int MaxReservations { get; set; } = 128;

    /// <summary>Reservations from one IP address (go: 8). 0 = no per-IP limit.</summary>
    public int MaxReservationsPerIp { get; set; } = 16;

    /// <summary>How long a reservation lasts unless refreshed (go: 1 h).</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Relayed connections at once, all peers together.</summary>
    public int MaxCircuits { get; set; } = 1024;

    /// <summary>Relayed connections at once per peer, counted at both ends (go: 16).</summary>
    public int MaxCircuitsPerPeer { get; set; } = 64;

    /// <summary>Bytes per direction per relayed connection before the relay resets it; 0 = unlimited.</summary>
    public ulong DataLimit { get; set; }

    /// <summary>Lifetime of a relayed connection before the relay resets it; zero = unlimited.</summary>
    public TimeSpan DurationLimit { get; set; }

    /// <summary>Bound on reading a hop request and on the stop handshake with the target.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The limit sent to both ends, or null when the relay imposes none (a missing limit means "no limits").</summary>
    public RelayLimit? WireLimit =>
        DataLimit == 0 && DurationLimit <= TimeSpan.Zero
            ? null
            : new RelayLimit(DurationLimit <= TimeSpan.Zero ? 0 : (uint)Math.Min(uint.MaxValue, Math.Ceiling(DurationLimit.TotalSeconds)), DataLimit);

    /// <summary>Every problem at once (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxReservations < 1)
        {
            errors.Add($"MaxReservations must be at least 1, got {MaxReservations}");
        }
        if (MaxReservationsPerIp < 0)
        {
            errors.Add($"MaxReservationsPerIp must be 0 (no limit) or more, got {MaxReservationsPerIp}");
        }
        if (ReservationTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"ReservationTtl must be at least 1 s, got {ReservationTtl}");
        }
        if (MaxCircuits < 1)
        {
            errors.Add($"MaxCircuits must be at least 1, got {MaxCircuits}");
        }
        if (MaxCircuitsPerPeer < 1)
        {
            errors.Add($"MaxCircuitsPerPeer must be at least 1, got {MaxCircuitsPerPeer}");
        }
        if (DurationLimit < TimeSpan.Zero)
        {
            errors.Add($"DurationLimit must be zero (unlimited) or positive, got {DurationLimit}");
        }
        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            errors.Add($"HandshakeTimeout must be positive, got {HandshakeTimeout}");
        }
        return errors;
    }
}
