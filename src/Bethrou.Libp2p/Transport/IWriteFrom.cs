namespace Bethrou.Libp2p.Transport;

/// <summary>A writer that transforms bytes on their way into its buffer (Noise encrypts them): handing it the caller's
/// memory saves copying them into memory it lent first. Same effect as copying into <c>GetSpan</c> and advancing.</summary>
internal interface IWriteFrom
{
    void WriteFrom(ReadOnlySpan<byte> source);
}
