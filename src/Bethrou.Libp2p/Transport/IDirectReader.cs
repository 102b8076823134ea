namespace Bethrou.Libp2p.Transport;

/// <summary>
/// A reader that produces its bytes straight into memory the caller chooses, piece by piece, instead of into a buffer
/// of its own that the caller then copies from. Noise implements it by checking each frame's tag first and then
/// decrypting where yamux routes the bytes (a header into a 12-byte buffer, a payload into its stream's buffer).
/// An object that is also a <see cref="System.IO.Pipelines.PipeReader"/> may be read through that API first (bytes it
/// buffered then come first here), but not after this one was used. Errors (a forged frame, a truncated one) are thrown by <see cref="WaitAsync"/> and <see cref="Read"/>.
/// </summary>
internal interface IDirectReader
{
    /// <summary>False when this reader cannot work this way (e.g. no verify-first cipher); use the PipeReader API.</summary>
    bool CanReadDirect { get; }

    /// <summary>Bytes <see cref="Read"/> and <see cref="Skip"/> can produce now without waiting.</summary>
    long Available { get; }

    /// <summary>Returns at once while <see cref="Available"/> is above zero; otherwise waits for more bytes, the end
    /// (<see cref="DirectReadResult.IsCompleted"/> with nothing available) or a canceled read.</summary>
    ValueTask<DirectReadResult> WaitAsync(CancellationToken cancellationToken = default);

    /// <summary>Produces the next <paramref name="destination"/>.Length bytes (at most <see cref="Available"/>).</summary>
    void Read(Span<byte> destination);

    /// <summary>Drops the next <paramref name="count"/> bytes (at most <see cref="Available"/>).</summary>
    void Skip(long count);
}

internal readonly record struct DirectReadResult(bool IsCompleted, bool IsCanceled);
