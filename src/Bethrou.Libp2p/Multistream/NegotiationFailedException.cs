namespace Bethrou.Libp2p.Multistream;

/// <summary>multistream-select could not agree on a protocol: the remote refused every proposal, sent something
/// that is not multistream-select (often a wrong private network key), closed, or took too long.</summary>
public sealed class NegotiationFailedException : IOException
{
    public NegotiationFailedException(string message)
        : this(message, [], null)
    {
    }

    public NegotiationFailedException(string message, Exception innerException)
        : this(message, [], innerException)
    {
    }

    public NegotiationFailedException(string message, IReadOnlyList<string> proposed, Exception? innerException = null)
        : base(message, innerException)
    {
        Proposed = proposed;
    }

    /// <summary>The protocols proposed before the failure: ours as initiator, the remote's as responder (may be empty).</summary>
    public IReadOnlyList<string> Proposed { get; }
}
