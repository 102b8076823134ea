namespace Bethrou.Discovery;

public enum RedisDiscoveryFailure
{
    /// <summary>Redis refused the user/password (WRONGPASS/NOAUTH): a configuration error that retrying cannot fix.</summary>
    AuthenticationFailed,
}

/// <summary>A discovery setup error with its cause; the message names the Redis endpoints and user, never the password.</summary>
public sealed class RedisDiscoveryException : IOException
{
    public RedisDiscoveryException(RedisDiscoveryFailure failure, string message, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
    }

    public RedisDiscoveryFailure Failure { get; }
}
