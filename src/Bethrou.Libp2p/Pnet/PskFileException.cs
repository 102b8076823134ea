namespace Bethrou.Libp2p.Pnet;

/// <summary>A private network key file could not be read or is malformed. The message is
/// <c>"&lt;path&gt;: &lt;problem&gt;"</c> and never contains key bytes.</summary>
public sealed class PskFileException : IOException
{
    public PskFileException(string path, string problem, Exception? innerException = null)
        : base($"{path}: {problem}", innerException)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The key file's path as given to <see cref="PreSharedKey.Load"/>.</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Problem { get; }
}
