namespace Bethrou.Libp2p.Security.Noise;

/// <summary>The Noise handshake or an encrypted frame failed: malformed, unauthenticated or unacceptable input.</summary>
public sealed class NoiseHandshakeException : IOException
{
    public NoiseHandshakeException(string message)
        : base(message)
    {
    }

    public NoiseHandshakeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
