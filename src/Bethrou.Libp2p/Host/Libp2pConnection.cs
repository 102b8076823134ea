using System.IO.Pipelines;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Libp2p.Host;

/// <summary>An upgraded (secured and multiplexed) connection to one peer.</summary>
public sealed class Libp2pConnection : IAsyncDisposable
{
    private readonly TaskCompletionSource<PeerInfo> _identified = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Func<ValueTask>? _disposeTransport;
    private string? _closeCause;
    private int _activeStreams;

    internal Libp2pConnection(PeerId remotePeer, PublicKey remoteKey, Multiaddress localAddress, Multiaddress remoteAddress,
        bool isOutbound, YamuxSession session, Func<ValueTask>? disposeTransport, bool isLimited = false)
    {
        RemotePeer = remotePeer;
        RemotePublicKey = remoteKey;
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
        IsOutbound = isOutbound;
        Session = session;
        _disposeTransport = disposeTransport;
        IsLimited = isLimited;
        Id = Interlocked.Increment(ref s_nextId);
    }

    private static long s_nextId;

    public long Id { get; }

    public PeerId RemotePeer { get; }

    public PublicKey RemotePublicKey { get; }

    public Multiaddress LocalAddress { get; }

    public Multiaddress RemoteAddress { get; }

    public bool IsOutbound { get; }

    /// <summary>True for relayed connections.</summary>
    public bool IsLimited { get; }

    public YamuxSession Session { get; }

    public CancellationToken Closed => Session.Closed;

    public bool IsClosed => Session.Closed.IsCancellationRequested;

    /// <summary>Streams opened by the host on this connection and not yet finished.</summary>
    public int ActiveStreams => Volatile.Read(ref _activeStreams);

    internal void StreamStarted() => Interlocked.Increment(ref _activeStreams);

    internal void StreamEnded() => Interlocked.Decrement(ref _activeStreams);

    /// <summary>Completes when identify with the remote has finished (or failed: then it faults).</summary>
    public Task<PeerInfo> Identified => _identified.Task;

    internal void SetIdentified(PeerInfo info) => _identified.TrySetResult(info);

    internal void SetIdentifyFailed(Exception e) => _identified.TrySetException(e);

    /// <summary>The one recorded reason this connection closed.</summary>
    public string? CloseCause => Volatile.Read(ref _closeCause);

    internal void RecordCloseCause(string cause) => Interlocked.CompareExchange(ref _closeCause, cause, null);

    public async ValueTask<TimeSpan> PingMuxerAsync(CancellationToken ct) => await Session.PingAsync(ct).ConfigureAwait(false);

    public async ValueTask CloseAsync()
    {
        RecordCloseCause("closed locally");
        await Session.CloseAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        RecordCloseCause("closed locally");
        await Session.DisposeAsync().ConfigureAwait(false);
        if (_disposeTransport is not null)
        {
            await _disposeTransport().ConfigureAwait(false);
        }
        _identified.TrySetException(new ObjectDisposedException(nameof(Libp2pConnection)));
        _ = _identified.Task.Exception; // observed
    }

    public override string ToString() => $"{(IsOutbound ? "→" : "←")}{RemotePeer}@{RemoteAddress}";
}

/// <summary>A negotiated stream of one protocol on a connection.</summary>
public sealed class StreamContext : IDuplexPipe, IAsyncDisposable
{
    private int _disposed;

    internal StreamContext(Libp2pConnection connection, YamuxStream stream, string protocol)
    {
        Connection = connection;
        Stream = stream;
        Protocol = protocol;
        connection.StreamStarted();
    }

    public Libp2pConnection Connection { get; }

    public YamuxStream Stream { get; }

    public string Protocol { get; }

    public PeerId RemotePeer => Connection.RemotePeer;

    public PipeReader Input => Stream.Input;

    public PipeWriter Output => Stream.Output;

    public void Reset() => Stream.Reset();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Connection.StreamEnded();
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
