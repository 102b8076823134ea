using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Proxy.Exit;

/// <summary>Which limit refused a stream.</summary>
internal enum StreamLimitVerdict
{
    Acquired,
    GlobalLimit,
    PeerLimit,
}

/// <summary>Counts concurrent proxy streams, globally and per peer. Entries for idle peers are removed.</summary>
internal sealed class ExitStreamLimiter(int maxStreams, int maxStreamsPerPeer)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, int> _perPeer = [];
    private int _total;

    public int MaxStreams { get; } = maxStreams;

    public int MaxStreamsPerPeer { get; } = maxStreamsPerPeer;

    public int ActiveStreams
    {
        get
        {
            lock (_gate)
            {
                return _total;
            }
        }
    }

    public int ActiveStreamsOf(PeerId peer)
    {
        lock (_gate)
        {
            return _perPeer.GetValueOrDefault(peer);
        }
    }

    public StreamLimitVerdict TryAcquire(PeerId peer)
    {
        lock (_gate)
        {
            if (_total >= MaxStreams)
            {
                return StreamLimitVerdict.GlobalLimit;
            }
            var mine = _perPeer.GetValueOrDefault(peer);
            if (mine >= MaxStreamsPerPeer)
            {
                return StreamLimitVerdict.PeerLimit;
            }
            _perPeer[peer] = mine + 1;
            _total++;
            return StreamLimitVerdict.Acquired;
        }
    }

    public void Release(PeerId peer)
    {
        lock (_gate)
        {
            if (!_perPeer.TryGetValue(peer, out var mine))
            {
                throw new InvalidOperationException($"peer {peer} holds no stream slot");
            }
            if (mine <= 1)
            {
                _perPeer.Remove(peer);
            }
            else
            {
                _perPeer[peer] = mine - 1;
            }
            _total--;
        }
    }
}
