namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Receive-side flow control of one stream (not thread-safe; the stream guards it with its inbound lock).
/// Invariant: <c>Credit + Unread + (consumed but not yet granted) == Target</c>.</summary>
internal struct YamuxReceiveWindow
{
    public YamuxReceiveWindow(long target, long lastUpdateTimestamp)
    {
        Target = target;
        Credit = target;
        LastUpdateTimestamp = lastUpdateTimestamp;
    }

    /// <summary>The window size we aim to keep granted (starts at the initial window, doubles under auto-tuning).</summary>
    public long Target { get; private set; }

    /// <summary>Bytes the peer may still send.</summary>
    public long Credit { get; private set; }

    /// <summary>Bytes received and buffered but not yet consumed by the application.</summary>
    public long Unread { get; private set; }

    public long LastUpdateTimestamp { get; private set; }

    /// <summary>Without an RTT measurement, a window the peer used up completely within this long after the previous
    /// update counts as too small (the RTT is assumed to be 10 ms).</summary>
    public static readonly TimeSpan FallbackGrowthInterval = TimeSpan.FromMilliseconds(40);

    /// <summary>The peer's credit reached zero since the last update (it was blocked on our window).</summary>
    public bool Exhausted { get; private set; }

    /// <summary>Accounts for a Data frame; false when it exceeds the credit (a protocol error).</summary>
    public bool TryReceive(uint length)
    {
        if (length > Credit)
        {
            return false;
        }
        Credit -= length;
        Unread += length;
        if (Credit == 0)
        {
            Exhausted = true;
        }
        return true;
    }

    /// <summary>Drops received bytes nobody will read, without granting them back.</summary>
    public void Forget(long count) => Unread -= count;

    /// <summary>The application consumed <paramref name="count"/> bytes. Returns the window delta to send now
    /// (0 while less than half the target is waiting to be granted). Auto-tuning doubles the target, up to
    /// <paramref name="maxWindow"/>, when the previous update is less than 4×RTT old (go-yamux's rule). While no RTT
    /// is known (<paramref name="rtt"/> zero) it doubles when the peer used the whole window up and the previous update
    /// is less than <see cref="FallbackGrowthInterval"/> old.</summary>
    public long OnConsumed(long count, long nowTimestamp, TimeSpan rtt, long maxWindow, TimeProvider time)
    {
        Unread -= count;
        var grant = Target - Credit - Unread;
        if (grant < Target / 2)
        {
            return 0;
        }
        if (Target < maxWindow)
        {
            var sinceUpdate = time.GetElapsedTime(LastUpdateTimestamp, nowTimestamp);
            var grow = rtt > TimeSpan.Zero
                ? sinceUpdate < rtt * 4
                : Exhausted && sinceUpdate < FallbackGrowthInterval;
            if (grow)
            {
                Target = Math.Min(Target * 2, maxWindow);
                grant = Target - Credit - Unread;
            }
        }
        LastUpdateTimestamp = nowTimestamp;
        Exhausted = false;
        Credit += grant;
        return grant;
    }
}
