// TEMPORARY: contract stubs so the host compiles before the layer branches are merged. Deleted at merge.
using System.IO.Pipelines;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Pnet
{
    public sealed class PreSharedKey
    {
        public ReadOnlyMemory<byte> Key => default;
        public string Fingerprint => "";
        public static PreSharedKey Generate() => throw new NotSupportedException();
        public static PreSharedKey Parse(ReadOnlySpan<byte> file) => throw new NotSupportedException();
        public static PreSharedKey Load(string path) => throw new NotSupportedException();
        public byte[] ToFileBytes() => throw new NotSupportedException();
    }
    public sealed class PskFileException(string m) : IOException(m);
    public static class PnetProtector
    {
        public static ValueTask<IDuplexPipe> ProtectAsync(IDuplexPipe inner, PreSharedKey psk, CancellationToken ct) => throw new NotSupportedException();
    }
}
namespace Bethrou.Libp2p.Multistream
{
    public static class MultistreamSelect
    {
        public static ValueTask<string> SelectOneAsync(IDuplexPipe pipe, IReadOnlyList<string> protocols, CancellationToken ct) => throw new NotSupportedException();
        public static ValueTask<string> HandleAsync(IDuplexPipe pipe, IReadOnlyCollection<string> supported, CancellationToken ct) => throw new NotSupportedException();
    }
    public sealed class NegotiationFailedException(string m) : IOException(m);
}
namespace Bethrou.Libp2p.Muxing.Yamux
{
    public sealed class YamuxOptions { }
    public enum SessionCloseReason { None }
    public sealed class StreamResetException(string m) : IOException(m);
    public sealed class YamuxSession(IDuplexPipe transport, bool isClient, YamuxOptions options, ILogger logger, TimeProvider time) : IAsyncDisposable
    {
        public const string ProtocolId = "/yamux/1.0.0";
        public IDuplexPipe Transport { get; } = transport;
        public bool IsClient { get; } = isClient;
        public YamuxOptions Options { get; } = options;
        public ILogger Logger { get; } = logger;
        public TimeProvider Time { get; } = time;
        public void Start() { }
        public ValueTask<YamuxStream> OpenStreamAsync(CancellationToken ct) => throw new NotSupportedException();
        public ValueTask<YamuxStream?> AcceptStreamAsync(CancellationToken ct) => throw new NotSupportedException();
        public ValueTask<TimeSpan> PingAsync(CancellationToken ct) => throw new NotSupportedException();
        public CancellationToken Closed => default;
        public SessionCloseReason? CloseReason => null;
        public Exception? CloseException => null;
        public ValueTask CloseAsync() => default;
        public void Abort(Exception cause) { }
        public int OpenStreamCount => 0;
        public ValueTask DisposeAsync() => default;
    }
    public sealed class YamuxStream : IDuplexPipe, IAsyncDisposable
    {
        public uint Id => 0;
        public PipeReader Input => null!;
        public PipeWriter Output => null!;
        public void Reset() { }
        public ValueTask DisposeAsync() => default;
    }
}
