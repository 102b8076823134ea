namespace Bethrou.Proxy.Tunnel;

/// <summary>A tunnel direction was torn down on purpose: the other direction failed, or the owner cancelled it.</summary>
public sealed class TunnelAbortedException : IOException
{
    public TunnelAbortedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
