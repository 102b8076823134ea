using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bethrou.Discovery;

/// <summary>Creates the Redis connection an announcer or directory will own (and dispose).</summary>
public delegate Task<IConnectionMultiplexer> RedisConnectionFactory(CancellationToken ct);

/// <summary>Connects to Redis the way discovery needs: never aborting on a failed first connect, failing commands fast
/// while disconnected (background loops retry), reconnecting with capped exponential backoff.</summary>
public static class RedisConnections
{
    /// <summary>A factory for <see cref="ConnectAsync"/> with these settings.</summary>
    public static RedisConnectionFactory For(RedisDiscoveryOptions options, string clientName, ILogger logger) =>
        ct => ConnectAsync(options, clientName, logger, ct);

    /// <summary>
    /// Connects. An unreachable Redis is not an error (a warning is logged and the connection keeps retrying in the
    /// background); refused credentials are, since retrying cannot fix them.
    /// </summary>
    /// <exception cref="ArgumentException">The settings are invalid (every problem listed).</exception>
    /// <exception cref="RedisDiscoveryException">Redis refused the credentials.</exception>
    public static async Task<IConnectionMultiplexer> ConnectAsync(RedisDiscoveryOptions options, string clientName, ILogger logger, CancellationToken ct)
    {
        options.ThrowIfInvalid();
        var config = RedisAddress.ToConfigurationOptions(options, clientName);
        var endpoints = RedisAddress.DescribeEndpoints(config);
        DiscoveryLog.Connecting(logger, endpoints, config.User ?? "(default)");
        ct.ThrowIfCancellationRequested();
        var mux = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        // ConnectAsync (AbortOnConnectFail=false) may return while the handshake is still running: probe until the
        // connection works, fails for a known reason, or the connect timeout passes.
        var deadline = Environment.TickCount64 + (long)options.ConnectTimeout.TotalMilliseconds;
        while (true)
        {
            if (mux.IsConnected)
            {
                return mux;
            }
            try
            {
                await mux.GetDatabase().PingAsync().ConfigureAwait(false);
                return mux;
            }
            catch (RedisException e) when (IsAuthenticationFailure(e))
            {
                await mux.DisposeAsync().ConfigureAwait(false);
                throw new RedisDiscoveryException(
                    RedisDiscoveryFailure.AuthenticationFailed,
                    $"Redis at {endpoints} refused the credentials of user '{config.User ?? "default"}' " +
                    $"({(config.Password is null ? "no password was given" : "wrong password")}); check the discovery user and password",
                    e);
            }
            catch (RedisException e) when (e.InnerException is not null || Environment.TickCount64 >= deadline)
            {
                DiscoveryLog.Unreachable(logger, endpoints, e.GetType().Name, FirstLine(e.InnerException?.Message ?? e.Message));
                return mux;
            }
            catch (RedisException)
            {
                // Still connecting.
            }
            try
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await mux.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    internal static bool IsAuthenticationFailure(Exception? e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure })
            {
                return true;
            }
            if (x is RedisServerException s && (s.Message.StartsWith("WRONGPASS", StringComparison.Ordinal) || s.Message.StartsWith("NOAUTH", StringComparison.Ordinal)))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The first line of an exception message (StackExchange.Redis appends long diagnostics after the cause).</summary>
    internal static string FirstLine(string message)
    {
        var cut = message.IndexOfAny(['\r', '\n']);
        var line = cut < 0 ? message : message[..cut];
        var diag = line.IndexOf(", mc: ", StringComparison.Ordinal);
        if (diag > 0)
        {
            line = line[..diag];
        }
        return line.Length > 300 ? line[..300] : line;
    }
}
