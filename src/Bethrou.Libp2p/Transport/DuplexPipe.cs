using System.IO.Pipelines;

namespace Bethrou.Libp2p.Transport;

/// <summary>A reader and a writer joined as one <see cref="IDuplexPipe"/>.</summary>
public sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>Two connected in-memory ends: what A writes, B reads, and the other way round.</summary>
    public static (IDuplexPipe A, IDuplexPipe B) CreatePair(PipeOptions? aToB = null, PipeOptions? bToA = null)
    {
        var ab = new Pipe(aToB ?? PipeOptions.Default);
        var ba = new Pipe(bToA ?? PipeOptions.Default);
        return (new DuplexPipe(ba.Reader, ab.Writer), new DuplexPipe(ab.Reader, ba.Writer));
    }
}
