namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Why a stream was reset.</summary>
public enum StreamResetKind
{
    /// <summary>The peer sent RST.</summary>
    Remote,
    /// <summary>This side called <see cref="YamuxStream.Reset"/> (or completed the stream's Output with an error).</summary>
    Local,
    /// <summary>The session ended (EOF, GoAway, error, close) before the stream saw a FIN.</summary>
    SessionClosed,
    /// <summary>The stream was refused (accept backlog or stream limit) before the application saw it.</summary>
    Refused,
}

/// <summary>Reads and writes on a yamux stream that was reset, or that ended without a FIN because its session ended.</summary>
public sealed class StreamResetException : IOException
{
    public StreamResetException(string message)
        : base(message)
    {
    }

    public StreamResetException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public StreamResetException(uint streamId, StreamResetKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        StreamId = streamId;
        Kind = kind;
    }

    public StreamResetException()
    {
    }

    public uint StreamId { get; }

    public StreamResetKind Kind { get; }
}

/// <summary>The peer broke the yamux protocol; the session sent GoAway(1) and closed.</summary>
public sealed class YamuxProtocolException : IOException
{
    public YamuxProtocolException(string message)
        : base(message)
    {
    }

    public YamuxProtocolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public YamuxProtocolException()
    {
    }
}

/// <summary>A stream cannot be opened: the session is closed or going away, or a stream limit is reached.</summary>
public sealed class YamuxSessionClosedException : IOException
{
    public YamuxSessionClosedException(string message)
        : base(message)
    {
    }

    public YamuxSessionClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public YamuxSessionClosedException()
    {
    }
}

/// <summary><see cref="YamuxSession.OpenStreamAsync"/> would exceed <see cref="YamuxOptions.MaxOutboundStreams"/>
/// (or the stream id space is used up).</summary>
public sealed class YamuxStreamLimitException : IOException
{
    public YamuxStreamLimitException(string message)
        : base(message)
    {
    }

    public YamuxStreamLimitException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public YamuxStreamLimitException()
    {
    }
}

/// <summary>Why a <see cref="YamuxSession"/> ended. One reason per session: the first cause wins.</summary>
public enum SessionCloseReason
{
    /// <summary><see cref="YamuxSession.CloseAsync"/> or DisposeAsync: GoAway(0) sent, transport output completed.</summary>
    LocalClose,
    /// <summary><see cref="YamuxSession.Abort"/> was called.</summary>
    Aborted,
    /// <summary>The transport reached EOF without a GoAway.</summary>
    RemoteClosed,
    /// <summary>The peer sent GoAway(0) and then closed the transport.</summary>
    RemoteGoAway,
    /// <summary>The peer sent GoAway with an error code (1 protocol error, 2 internal error).</summary>
    RemoteError,
    /// <summary>The peer broke the protocol; this side sent GoAway(1). See <see cref="YamuxSession.CloseException"/>.</summary>
    ProtocolError,
    /// <summary>A keepalive ping got no answer within <see cref="YamuxOptions.PingTimeout"/>.</summary>
    KeepAliveTimeout,
    /// <summary>Reading or writing the transport failed.</summary>
    TransportError,
}
