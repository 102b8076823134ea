using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Security;

/// <summary>The remote proved an identity other than the one we dialled.</summary>
public sealed class PeerIdMismatchException : IOException
{
    public PeerIdMismatchException(string message)
        : base(message)
    {
    }

    public PeerIdMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PeerIdMismatchException(PeerId expected, PeerId actual, string message)
        : base(message)
    {
        Expected = expected;
        Actual = actual;
    }

    public PeerId? Expected { get; }

    public PeerId? Actual { get; }
}
