using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Proxy.Routing;

/// <summary>Where an exit came from.</summary>
public enum ExitSource
{
    Static,
    Discovery,
}

/// <summary>Runtime state of one exit node as the client sees it.</summary>
public sealed class ExitState
{
    private readonly Lock _lock = new();
    private readonly Queue<double> _rtts = new();
    private int _openStreams;
    private IReadOnlyList<Multiaddress> _addresses;

    public ExitState(PeerId id, IReadOnlyList<Multiaddress> addresses, ExitSource source)
    {
        Id = id;
        _addresses = addresses;
        Source = source;
    }

    public PeerId Id { get; }

    public ExitSource Source { get; internal set; }

    public IReadOnlyList<Multiaddress> Addresses
    {
        get => Volatile.Read(ref _addresses);
        internal set => Volatile.Write(ref _addresses, value);
    }

    /// <summary>Healthy exits are eligible for new tunnels.</summary>
    public bool IsHealthy { get; internal set; }

    public int ConsecutiveFailures { get; internal set; }

    public string? LastError { get; internal set; }

    /// <summary>Average of the last few /ipfs/ping/1.0.0 round trips, in milliseconds; null until measured.</summary>
    public double? AverageRttMs
    {
        get
        {
            lock (_lock)
            {
                return _rtts.Count == 0 ? null : _rtts.Average();
            }
        }
    }

    public int OpenStreams => Volatile.Read(ref _openStreams);

    /// <summary>Tunnels completed through this exit (for distribution reports).</summary>
    public long TunnelsOpened => Interlocked.Read(ref _tunnelsOpened);

    private long _tunnelsOpened;

    internal void StreamOpened()
    {
        Interlocked.Increment(ref _openStreams);
        Interlocked.Increment(ref _tunnelsOpened);
    }

    internal void StreamClosed() => Interlocked.Decrement(ref _openStreams);

    internal void RecordRtt(TimeSpan rtt, int window = 5)
    {
        lock (_lock)
        {
            _rtts.Enqueue(rtt.TotalMilliseconds);
            while (_rtts.Count > window)
            {
                _rtts.Dequeue();
            }
        }
    }

    internal void ClearRtt()
    {
        lock (_lock)
        {
            _rtts.Clear();
        }
    }

    public override string ToString() => Id.ToString();
}
