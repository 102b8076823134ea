using System.Net;
using System.Net.Sockets;
using Bethrou.Proxy.Socks5;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Proxy.Tunnel;

/// <summary>Options for <see cref="DirectTunnelConnector"/>.</summary>
public sealed class DirectTunnelConnectorOptions
{
    /// <summary>Bound on DNS resolution plus TCP connect. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Buffering of the outgoing connection; null for the defaults.</summary>
    public SocketDuplexPipeOptions? SocketOptions { get; init; }
}

/// <summary>
/// Dials the destination straight over TCP from this machine (no P2P network): for tests and a <c>--direct</c> debug
/// mode. Domain names are resolved here. Never use it where the point is to hide this machine's address.
/// </summary>
public sealed class DirectTunnelConnector : ITunnelConnector
{
    private readonly DirectTunnelConnectorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    public DirectTunnelConnector(DirectTunnelConnectorOptions? options = null, ILogger<DirectTunnelConnector>? logger = null,
        TimeProvider? timeProvider = null)
    {
        _options = options ?? new DirectTunnelConnectorOptions();
        if (_options.ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options.ConnectTimeout, "ConnectTimeout must be positive.");
        }
        _options.SocketOptions?.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public async ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        EndPoint endPoint = destination.AddressType == Socks5AddressType.DomainName
            ? new DnsEndPoint(destination.Host!, destination.Port)
            : new IPEndPoint(destination.Address!, destination.Port);
        var socket = Socket.OSSupportsIPv6
            ? new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true }
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var message = $"connect to {destination.ToHostPort()} timed out after {_options.ConnectTimeout.TotalSeconds:0.###} s";
            TunnelLog.DirectConnectFailed(_logger, destination, Socks5ReplyCode.HostUnreachable, message);
            return TunnelConnectResult.Failure(Socks5ReplyCode.HostUnreachable, message);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var code = MapSocketError(ex.SocketErrorCode);
            var message = $"connect to {destination.ToHostPort()}: {ex.SocketErrorCode} ({ex.Message})";
            TunnelLog.DirectConnectFailed(_logger, destination, code, message);
            return TunnelConnectResult.Failure(code, message);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var pipe = new SocketDuplexPipe(socket, _options.SocketOptions);
        pipe.Start();
        TunnelLog.DirectConnected(_logger, destination, pipe.LocalEndPoint);
        return TunnelConnectResult.Success(pipe, pipe, pipe.LocalEndPoint as IPEndPoint);
    }

    /// <summary>The SOCKS reply for a failed TCP connect.</summary>
    public static Socks5ReplyCode MapSocketError(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => Socks5ReplyCode.ConnectionRefused,
        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain or SocketError.HostUnreachable
            or SocketError.HostDown or SocketError.TimedOut => Socks5ReplyCode.HostUnreachable,
        SocketError.NetworkUnreachable or SocketError.NetworkDown => Socks5ReplyCode.NetworkUnreachable,
        SocketError.AccessDenied => Socks5ReplyCode.ConnectionNotAllowed,
        SocketError.AddressFamilyNotSupported => Socks5ReplyCode.AddressTypeNotSupported,
        _ => Socks5ReplyCode.GeneralFailure,
    };
}
