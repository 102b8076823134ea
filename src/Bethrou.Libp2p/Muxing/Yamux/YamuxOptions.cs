namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Settings for a <see cref="YamuxSession"/>. <see cref="Validate"/> runs in the session constructor.</summary>
public sealed class YamuxOptions
{
    /// <summary>The window every yamux peer starts a stream with (spec value, 256 KiB).</summary>
    public const int SpecInitialWindow = 256 * 1024;

    /// <summary>Receive window per stream at open. Must be at least 256 KiB (the spec's starting window);
    /// anything above that is granted to the peer in the SYN/ACK window update.</summary>
    public int InitialStreamWindow { get; set; } = SpecInitialWindow;

    /// <summary>Upper bound for the auto-tuned receive window per stream (go-libp2p and js use 16 MiB).
    /// Also the largest Data frame accepted from the peer.</summary>
    public int MaxStreamWindow { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest Data payload this side sends in one frame (go sends at most 65524). Peers accept any
    /// length up to the window they granted, so this only trades per-frame overhead against fairness.</summary>
    public int MaxDataFrameSize { get; set; } = 64 * 1024;

    /// <summary>Bytes a stream's Output may buffer ahead of the send window before FlushAsync waits.</summary>
    public int StreamSendBufferSize { get; set; } = 256 * 1024;

    /// <summary>Open inbound streams allowed at once; a SYN beyond this is answered with RST. Default 1000, the
    /// same as js-libp2p's maxInboundStreams.</summary>
    public int MaxInboundStreams { get; set; } = 1000;

    /// <summary>Open outbound streams allowed at once; OpenStreamAsync beyond this throws
    /// <see cref="YamuxStreamLimitException"/>. Default 1000 (js-libp2p's maxOutboundStreams; js RSTs beyond it).</summary>
    public int MaxOutboundStreams { get; set; } = 1000;

    /// <summary>Inbound streams received but not yet returned by AcceptStreamAsync; a SYN beyond this gets RST
    /// (go-yamux: 256).</summary>
    public int AcceptBacklog { get; set; } = 256;

    /// <summary>Ping once at start (RTT) and then every <see cref="KeepAliveInterval"/>; a ping unanswered within
    /// <see cref="PingTimeout"/> closes the session with <see cref="SessionCloseReason.KeepAliveTimeout"/>.</summary>
    public bool EnableKeepAlive { get; set; } = true;

    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes the write loop writes to the transport before it flushes (frames from all streams are
    /// batched up to this).</summary>
    public int MaxWriteBatch { get; set; } = 1024 * 1024;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad setting and the limit.</summary>
    public void Validate()
    {
        var errors = new List<string>();
        if (InitialStreamWindow < SpecInitialWindow)
        {
            errors.Add($"InitialStreamWindow is {InitialStreamWindow}; it must be at least {SpecInitialWindow} (the yamux spec window).");
        }
        if (MaxStreamWindow < InitialStreamWindow || MaxStreamWindow > 1024 * 1024 * 1024)
        {
            errors.Add($"MaxStreamWindow is {MaxStreamWindow}; it must be between InitialStreamWindow ({InitialStreamWindow}) and 1 GiB.");
        }
        if (MaxDataFrameSize is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"MaxDataFrameSize is {MaxDataFrameSize}; it must be between 1024 and 16 MiB.");
        }
        if (StreamSendBufferSize is < 1024 or > 1024 * 1024 * 1024)
        {
            errors.Add($"StreamSendBufferSize is {StreamSendBufferSize}; it must be between 1024 and 1 GiB.");
        }
        if (MaxInboundStreams < 0)
        {
            errors.Add($"MaxInboundStreams is {MaxInboundStreams}; it must not be negative.");
        }
        if (MaxOutboundStreams < 0)
        {
            errors.Add($"MaxOutboundStreams is {MaxOutboundStreams}; it must not be negative.");
        }
        if (AcceptBacklog < 1)
        {
            errors.Add($"AcceptBacklog is {AcceptBacklog}; it must be at least 1.");
        }
        if (EnableKeepAlive && KeepAliveInterval <= TimeSpan.Zero)
        {
            errors.Add($"KeepAliveInterval is {KeepAliveInterval}; it must be positive when keepalive is enabled.");
        }
        if (EnableKeepAlive && PingTimeout <= TimeSpan.Zero)
        {
            errors.Add($"PingTimeout is {PingTimeout}; it must be positive when keepalive is enabled.");
        }
        if (MaxWriteBatch < 1024)
        {
            errors.Add($"MaxWriteBatch is {MaxWriteBatch}; it must be at least 1024.");
        }
        if (errors.Count > 0)
        {
            throw new ArgumentOutOfRangeException(nameof(YamuxOptions), "Invalid yamux options: " + string.Join(" ", errors));
        }
    }

    internal YamuxOptions Clone() => (YamuxOptions)MemberwiseClone();
}
