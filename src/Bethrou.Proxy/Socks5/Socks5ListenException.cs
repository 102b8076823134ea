using System.Net;

namespace Bethrou.Proxy.Socks5;

/// <summary>The SOCKS5 server could not bind or listen on its endpoint.</summary>
public sealed class Socks5ListenException : IOException
{
    public Socks5ListenException(EndPoint endPoint, Exception innerException)
        : base($"Cannot listen for SOCKS5 on {endPoint}: {innerException.Message}", innerException)
    {
        EndPoint = endPoint;
    }

    public EndPoint EndPoint { get; }
}
