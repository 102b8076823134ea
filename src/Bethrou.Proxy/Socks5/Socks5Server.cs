using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Libp2p.Transport;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Socks5;

/// <summary>
/// A SOCKS5 server (RFC 1928, RFC 1929) that hands every CONNECT to an <see cref="ITunnelConnector"/> and pumps bytes
/// with <see cref="DuplexPump"/>.
/// </summary>
/// <remarks>
/// Per connection: greeting (method 0x00, or 0x02 when a username/password is configured; anything else gets 0xFF and
/// a close), authentication (constant-time; failure gets status 0x01 and a close), request (CONNECT goes to the
/// connector; BIND, UDP ASSOCIATE and unknown commands get 0x07: UDP is never relayed locally, which would leak the
/// user's address). Malformed input: a bad version closes without a reply; NMETHODS = 0 gets 0xFF; a bad
/// sub-negotiation gets status 0x01; a request with an unknown ATYP gets 0x08 and any other malformed request 0x01;
/// then the connection is closed. The whole handshake must finish within <see cref="Socks5ServerOptions.HandshakeTimeout"/>.
/// </remarks>
public sealed class Socks5Server : IAsyncDisposable
{
    private readonly IPEndPoint _listen;
    private readonly TimeSpan _handshakeTimeout;
    private readonly TimeSpan _connectTimeout;
    private readonly int _maxConnections;
    private readonly int _backlog;
    private readonly SocketDuplexPipeOptions? _socketOptions;
    private readonly byte[]? _usernameHash;
    private readonly byte[]? _passwordHash;
    private readonly ITunnelConnector _connector;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _stopHandshakes = new();
    private readonly CancellationTokenSource _abortTunnels = new();
    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    private readonly Lock _gate = new();
    private Socket? _listener;
    private IPEndPoint? _localEndPoint;
    private Task _acceptTask = Task.CompletedTask;
    private Task? _stopTask;
    private bool _started;
    private int _activeConnections;
    private int _activeTunnels;
    private long _totalConnections;
    private long _rejectedConnections;
    private long _failedAuthentications;
    private long _nextConnectionId;

    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid (every error listed).</exception>
    public Socks5Server(Socks5ServerOptions options, ITunnelConnector connector, ILogger<Socks5Server> logger,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(logger);
        options.ThrowIfInvalid();
        _listen = options.Listen;
        _handshakeTimeout = options.HandshakeTimeout;
        _connectTimeout = options.ConnectTimeout;
        _maxConnections = options.MaxConnections;
        _backlog = options.ListenBacklog;
        _socketOptions = options.SocketOptions;
        if (options.RequiresAuthentication)
        {
            _usernameHash = SHA256.HashData(Encoding.UTF8.GetBytes(options.Username!));
            _passwordHash = SHA256.HashData(Encoding.UTF8.GetBytes(options.Password!));
        }
        _connector = connector;
        _logger = logger;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The bound endpoint (with the real port when listening on port 0).</summary>
    /// <exception cref="InvalidOperationException">The server has not been started.</exception>
    public IPEndPoint LocalEndPoint => _localEndPoint ?? throw new InvalidOperationException("The SOCKS5 server has not been started.");

    /// <summary>Connections being served (handshaking or tunnelling).</summary>
    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    /// <summary>Connections whose tunnel is open and pumping.</summary>
    public int ActiveTunnels => Volatile.Read(ref _activeTunnels);

    /// <summary>Connections accepted since start, including rejected ones.</summary>
    public long TotalConnections => Interlocked.Read(ref _totalConnections);

    /// <summary>Connections closed at once because <see cref="Socks5ServerOptions.MaxConnections"/> was reached.</summary>
    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>Failed username/password authentications.</summary>
    public long FailedAuthentications => Interlocked.Read(ref _failedAuthentications);

    /// <summary>Binds, listens and starts accepting.</summary>
    /// <exception cref="Socks5ListenException">The endpoint cannot be bound.</exception>
    public void Start()
    {
        lock (_gate)
        {
            if (_started || _stopTask is not null)
            {
                throw new InvalidOperationException("A SOCKS5 server can be started only once.");
            }
            _started = true;
        }
        var listener = new Socket(_listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_listen.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }
            listener.Bind(_listen);
            listener.Listen(_backlog);
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            throw new Socks5ListenException(_listen, ex);
        }
        _listener = listener;
        _localEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        Socks5Log.Listening(_logger, _localEndPoint, _usernameHash is null ? "none" : "username/password");
        _acceptTask = AcceptLoopAsync(listener);
    }

    /// <summary>
    /// Stops accepting, closes connections still in their handshake, lets open tunnels finish for up to
    /// <paramref name="drainTimeout"/> (measured with the server's <see cref="TimeProvider"/>), then aborts the rest.
    /// Cancelling <paramref name="cancellationToken"/> ends the drain early (the rest are aborted). Idempotent.
    /// </summary>
    public Task StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        if (drainTimeout < TimeSpan.Zero && drainTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), drainTimeout, "The drain timeout must not be negative.");
        }
        lock (_gate)
        {
            return _stopTask ??= StopCoreAsync(drainTimeout, cancellationToken);
        }
    }

    /// <summary>Stops with no drain time: open tunnels are aborted.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }

    private async Task StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptTask.ConfigureAwait(false);
        await _stopHandshakes.CancelAsync().ConfigureAwait(false);
        var pending = _connections.Values.ToArray();
        if (pending.Length > 0)
        {
            var all = Task.WhenAll(pending.Select(static c => c.Completed.Task));
            try
            {
                await all.WaitAsync(drainTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                var remaining = pending.Count(static c => !c.Completed.Task.IsCompleted);
                Socks5Log.DrainTimeout(_logger, drainTimeout, remaining);
                await _abortTunnels.CancelAsync().ConfigureAwait(false);
                var reason = new TunnelAbortedException("The SOCKS5 server is shutting down.");
                foreach (var connection in pending)
                {
                    connection.Abort(reason);
                }
                await all.ConfigureAwait(false);
            }
        }
        if (_localEndPoint is not null)
        {
            Socks5Log.Stopped(_logger, _localEndPoint);
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var token = _stopAccepting.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue; // The client gave up before we accepted.
            }
            catch (SocketException ex)
            {
                Socks5Log.AcceptFailed(_logger, ex.SocketErrorCode, ex);
                try
                {
                    // e.g. out of file descriptors: do not spin.
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _timeProvider, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            Accept(socket);
        }
    }

    private void Accept(Socket socket)
    {
        Interlocked.Increment(ref _totalConnections);
        if (Interlocked.Increment(ref _activeConnections) > _maxConnections)
        {
            Interlocked.Decrement(ref _activeConnections);
            Interlocked.Increment(ref _rejectedConnections);
            Socks5Log.ConnectionRejected(_logger, GetRemoteEndPoint(socket), _maxConnections);
            socket.Dispose();
            return;
        }
        SocketDuplexPipe client;
        try
        {
            client = new SocketDuplexPipe(socket, _socketOptions);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset before we could set it up.
            socket.Dispose();
            Interlocked.Decrement(ref _activeConnections);
            return;
        }
        var connection = new Connection(Interlocked.Increment(ref _nextConnectionId), client);
        _connections[connection.Id] = connection;
        Socks5Log.ConnectionAccepted(_logger, connection.Id, client.RemoteEndPoint);
        client.Start();
        // Inline scheduling: the handshake starts on the accepting thread and goes on wherever the client's bytes
        // arrive (it never blocks); otherwise each connection starts on the thread pool.
        connection.Task = IoScheduling.Inline ? HandleAsync(connection) : Task.Run(() => HandleAsync(connection));
    }

    private async Task HandleAsync(Connection connection)
    {
        try
        {
            await ServeAsync(connection).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Socks5Log.ConnectionFaulted(_logger, connection.Id, ex);
        }
        finally
        {
            try
            {
                await connection.Client.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Socks5Log.ConnectionFaulted(_logger, connection.Id, ex);
            }
            _connections.TryRemove(connection.Id, out _);
            Interlocked.Decrement(ref _activeConnections);
            connection.Completed.TrySetResult();
        }
    }

    private async Task ServeAsync(Connection connection)
    {
        Socks5Request? request;
        using (var timeout = new CancellationTokenSource(_handshakeTimeout, _timeProvider))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopHandshakes.Token))
        {
            try
            {
                request = await HandshakeAsync(connection, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                Socks5Log.HandshakeTimedOut(_logger, connection.Id, _handshakeTimeout);
                return;
            }
            catch (OperationCanceledException) when (_stopHandshakes.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                Socks5Log.HandshakeIOError(_logger, connection.Id, ex);
                return;
            }
        }
        if (request is not null)
        {
            await ConnectAndPumpAsync(connection, request).ConfigureAwait(false);
        }
    }

    /// <summary>Greeting, authentication, request. Returns a CONNECT request, or null when the connection is to be
    /// closed (any reply has been flushed).</summary>
    private async ValueTask<Socks5Request?> HandshakeAsync(Connection connection, CancellationToken cancellationToken)
    {
        var client = connection.Client;
        var input = client.Input;
        var output = client.Output;

        var (greetingResult, greeting) = await ReadMessageAsync<Socks5Greeting>(
            input, Socks5Codec.TryReadGreeting, cancellationToken).ConfigureAwait(false);
        if (!greetingResult.IsOk)
        {
            if (greetingResult.Status == Socks5ParseStatus.NeedMoreData)
            {
                Socks5Log.ClosedDuringHandshake(_logger, connection.Id, "greeting");
                return null;
            }
            Socks5Log.MalformedMessage(_logger, connection.Id, "greeting", greetingResult.Status, greetingResult.Message);
            if (greetingResult.Status == Socks5ParseStatus.NoMethods)
            {
                Socks5Codec.WriteMethodSelection(output, Socks5AuthMethod.NoAcceptableMethods);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            return null;
        }

        var required = _usernameHash is null ? Socks5AuthMethod.NoAuthentication : Socks5AuthMethod.UsernamePassword;
        if (!greeting.Offers(required))
        {
            Socks5Log.NoAcceptableMethod(_logger, connection.Id, required);
            Socks5Codec.WriteMethodSelection(output, Socks5AuthMethod.NoAcceptableMethods);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return null;
        }
        Socks5Codec.WriteMethodSelection(output, required);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);

        if (_usernameHash is not null)
        {
            var (authResult, auth) = await ReadMessageAsync<Socks5AuthRequest?>(
                input, Socks5Codec.TryReadAuthRequest, cancellationToken).ConfigureAwait(false);
            if (!authResult.IsOk)
            {
                if (authResult.Status == Socks5ParseStatus.NeedMoreData)
                {
                    Socks5Log.ClosedDuringHandshake(_logger, connection.Id, "authentication");
                    return null;
                }
                Socks5Log.MalformedMessage(_logger, connection.Id, "authentication", authResult.Status, authResult.Message);
                Socks5Codec.WriteAuthStatus(output, success: false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }
            var authenticated = CheckCredentials(auth!);
            auth!.Clear();
            Socks5Codec.WriteAuthStatus(output, authenticated);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (!authenticated)
            {
                Interlocked.Increment(ref _failedAuthentications);
                Socks5Log.AuthenticationFailed(_logger, connection.Id, client.RemoteEndPoint);
                return null;
            }
        }

        var (requestResult, request) = await ReadMessageAsync<Socks5Request?>(
            input, Socks5Codec.TryReadRequest, cancellationToken).ConfigureAwait(false);
        if (!requestResult.IsOk)
        {
            if (requestResult.Status == Socks5ParseStatus.NeedMoreData)
            {
                Socks5Log.ClosedDuringHandshake(_logger, connection.Id, "request");
                return null;
            }
            Socks5Log.MalformedMessage(_logger, connection.Id, "request", requestResult.Status, requestResult.Message);
            if (requestResult.Status != Socks5ParseStatus.BadVersion)
            {
                var code = requestResult.Status == Socks5ParseStatus.UnknownAddressType
                    ? Socks5ReplyCode.AddressTypeNotSupported
                    : Socks5ReplyCode.GeneralFailure;
                Socks5Codec.WriteReply(output, code, null);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            return null;
        }
        if (request!.Command != Socks5Command.Connect)
        {
            // BIND is not offered, and UDP ASSOCIATE is never served locally (it would leak the user's address).
            Socks5Log.CommandNotSupported(_logger, connection.Id, request.Command);
            Socks5Codec.WriteReply(output, Socks5ReplyCode.CommandNotSupported, null);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return null;
        }
        return request;
    }

    private async Task ConnectAndPumpAsync(Connection connection, Socks5Request request)
    {
        var client = connection.Client;
        var destination = request.Destination;
        Socks5Log.ConnectRequested(_logger, connection.Id, destination);
        TunnelConnectResult tunnel;
        using (var timeout = new CancellationTokenSource(_connectTimeout, _timeProvider))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopHandshakes.Token))
        {
            try
            {
                tunnel = await _connector.ConnectAsync(destination, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopHandshakes.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                Socks5Log.ConnectTimedOut(_logger, connection.Id, destination, _connectTimeout);
                tunnel = TunnelConnectResult.Failure(Socks5ReplyCode.HostUnreachable, "connect timed out");
            }
            catch (Exception ex)
            {
                Socks5Log.ConnectorFaulted(_logger, connection.Id, ex);
                tunnel = TunnelConnectResult.Failure(Socks5ReplyCode.GeneralFailure, ex.Message);
            }
        }

        if (!tunnel.Succeeded)
        {
            Socks5Log.ConnectFailed(_logger, connection.Id, destination, tunnel.ReplyCode, tunnel.Message);
            try
            {
                Socks5Codec.WriteReply(client.Output, tunnel.ReplyCode, null);
                await client.Output.FlushAsync(_abortTunnels.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                Socks5Log.HandshakeIOError(_logger, connection.Id, ex);
            }
            return;
        }

        connection.Tunnel = tunnel.Transport;
        var pumping = false;
        try
        {
            try
            {
                Socks5Codec.WriteReply(client.Output, Socks5ReplyCode.Succeeded, tunnel.Bound);
                await client.Output.FlushAsync(_abortTunnels.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                Socks5Log.HandshakeIOError(_logger, connection.Id, ex);
                var abort = new TunnelAbortedException("The SOCKS client went away before the tunnel started.", ex);
                await tunnel.Transport.Output.CompleteAsync(abort).ConfigureAwait(false);
                await tunnel.Transport.Input.CompleteAsync(abort).ConfigureAwait(false);
                return;
            }
            Interlocked.Increment(ref _activeTunnels);
            pumping = true;
            var result = await DuplexPump.RunAsync(client, tunnel.Transport, _abortTunnels.Token).ConfigureAwait(false);
            Socks5Log.TunnelClosed(_logger, connection.Id, result.Status, result.FailedSide, result.BytesAToB, result.BytesBToA,
                result.Error);
        }
        finally
        {
            if (pumping)
            {
                Interlocked.Decrement(ref _activeTunnels);
            }
            try
            {
                await tunnel.Owner.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Socks5Log.ConnectionFaulted(_logger, connection.Id, ex);
            }
        }
    }

    private bool CheckCredentials(Socks5AuthRequest request)
    {
        Span<byte> username = stackalloc byte[SHA256.HashSizeInBytes];
        Span<byte> password = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(request.Username, username);
        SHA256.HashData(request.Password, password);
        // Hashing first makes the comparison independent of the lengths; '&' (not '&&') always compares both.
        var ok = CryptographicOperations.FixedTimeEquals(username, _usernameHash)
                 & CryptographicOperations.FixedTimeEquals(password, _passwordHash);
        CryptographicOperations.ZeroMemory(password);
        return ok;
    }

    private delegate Socks5ParseResult Parser<T>(ref ReadOnlySequence<byte> buffer, out T value);

    /// <summary>Reads one message. NeedMoreData in the result means the client closed before it was complete.</summary>
    private static async ValueTask<(Socks5ParseResult Result, T? Value)> ReadMessageAsync<T>(
        PipeReader reader, Parser<T> parser, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            var result = parser(ref buffer, out var value);
            if (result.Status == Socks5ParseStatus.NeedMoreData)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    return (result, default);
                }
                continue;
            }
            reader.AdvanceTo(buffer.Start);
            return (result, value);
        }
    }

    private static EndPoint? GetRemoteEndPoint(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    private sealed class Connection(long id, SocketDuplexPipe client)
    {
        public long Id { get; } = id;

        public SocketDuplexPipe Client { get; } = client;

        public TaskCompletionSource Completed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task? Task { get; set; }

        public IDuplexPipe? Tunnel { get; set; }

        public void Abort(Exception reason)
        {
            Client.Abort(reason);
            (Tunnel as SocketDuplexPipe)?.Abort(reason);
        }
    }
}
