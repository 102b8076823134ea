using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net;
using Bethrou.Proxy.Socks5;

namespace Bethrou.Proxy.Tunnel;

/// <summary>
/// Opens a byte tunnel to a SOCKS destination: over the P2P network to an exit node in production, straight over TCP
/// with <see cref="DirectTunnelConnector"/> for tests and debugging.
/// </summary>
public interface ITunnelConnector
{
    /// <summary>
    /// Connects to <paramref name="destination"/>. Expected failures (refused, unreachable, policy) are returned as
    /// <see cref="TunnelConnectResult.Failure"/> with the SOCKS reply code to send; the method throws only
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled (the SOCKS
    /// server bounds the connect with its own connect timeout through that token).
    /// </summary>
    ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken);
}

/// <summary>
/// The outcome of <see cref="ITunnelConnector.ConnectAsync"/>: an open tunnel, or a SOCKS reply code and a message.
/// </summary>
/// <remarks>
/// On success the caller owns the tunnel: it runs <see cref="DuplexPump"/> over <see cref="Transport"/>, which
/// completes the transport's <see cref="IDuplexPipe.Output"/> without an exception for a half-close (FIN) and with
/// an exception to abort (reset), and then disposes <see cref="Owner"/>. <c>Owner.DisposeAsync</c> must release the
/// tunnel promptly (it may flush what is already buffered, but must not wait on the remote application).
/// </remarks>
public readonly struct TunnelConnectResult
{
    private TunnelConnectResult(IDuplexPipe? transport, IAsyncDisposable? owner, Socks5Destination? bound,
        Socks5ReplyCode replyCode, string? message)
    {
        Transport = transport;
        Owner = owner;
        Bound = bound;
        ReplyCode = replyCode;
        Message = message;
    }

    [MemberNotNullWhen(true, nameof(Transport), nameof(Owner))]
    [MemberNotNullWhen(false, nameof(Message))]
    public bool Succeeded => Transport is not null;

    /// <summary>The tunnel's byte stream (success only).</summary>
    public IDuplexPipe? Transport { get; }

    /// <summary>Disposes the tunnel (success only).</summary>
    public IAsyncDisposable? Owner { get; }

    /// <summary>BND.ADDR/BND.PORT for the SOCKS reply; null means 0.0.0.0:0.</summary>
    public Socks5Destination? Bound { get; }

    /// <summary><see cref="Socks5ReplyCode.Succeeded"/> on success, else the failure's reply code.</summary>
    public Socks5ReplyCode ReplyCode { get; }

    /// <summary>Why the connect failed (failure only).</summary>
    public string? Message { get; }

    public static TunnelConnectResult Success(IDuplexPipe transport, IAsyncDisposable owner, Socks5Destination? bound = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(owner);
        return new TunnelConnectResult(transport, owner, bound, Socks5ReplyCode.Succeeded, null);
    }

    public static TunnelConnectResult Success(IDuplexPipe transport, IAsyncDisposable owner, IPEndPoint? bound)
        => Success(transport, owner, bound is null ? null : Socks5Destination.FromEndPoint(Normalize(bound)));

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="replyCode"/> is <see cref="Socks5ReplyCode.Succeeded"/>.</exception>
    public static TunnelConnectResult Failure(Socks5ReplyCode replyCode, string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (replyCode == Socks5ReplyCode.Succeeded)
        {
            throw new ArgumentOutOfRangeException(nameof(replyCode), replyCode, "A failure needs a non-zero SOCKS reply code.");
        }
        return new TunnelConnectResult(null, null, null, replyCode, message);
    }

    public override string ToString()
        => Succeeded ? "Succeeded" : ReplyCode + ": " + Message;

    private static IPEndPoint Normalize(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
