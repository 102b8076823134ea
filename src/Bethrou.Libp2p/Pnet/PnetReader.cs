using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Pnet;

/// <summary>Decrypts the inner reader's bytes in place, once each, when a read first returns them. The inner pipe's
/// unconsumed bytes are only ever partly decrypted at the front: <see cref="_decrypted"/> counts how many of them
/// have been, so bytes that stay unconsumed across reads are not XORed twice.</summary>
internal sealed class PnetReader : PipeReader
{
    private readonly PipeReader _inner;
    private readonly XSalsa20Stream _cipher;
    private readonly ILogger _logger;
    private ReadOnlySequence<byte> _last;
    private long _decrypted;
    private int _completed;

    public PnetReader(PipeReader inner, XSalsa20Stream cipher, ILogger logger)
    {
        _inner = inner;
        _cipher = cipher;
        _logger = logger;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var pending = _inner.ReadAsync(cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<ReadResult>(Decrypt(pending.Result));
        }
        return AwaitAsync(pending);
    }

    private async ValueTask<ReadResult> AwaitAsync(ValueTask<ReadResult> pending) => Decrypt(await pending.ConfigureAwait(false));

    public override bool TryRead(out ReadResult result)
    {
        if (_inner.TryRead(out result))
        {
            result = Decrypt(result);
            return true;
        }
        return false;
    }

    private ReadResult Decrypt(ReadResult result)
    {
        var buffer = result.Buffer;
        _last = buffer;
        if (buffer.Length > _decrypted)
        {
            foreach (var segment in buffer.Slice(_decrypted))
            {
                _cipher.Transform(MemoryMarshal.AsMemory(segment).Span);
            }
            _decrypted = buffer.Length;
        }
        return result;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _decrypted -= _last.Slice(_last.Start, consumed).Length;
        _last = default;
        _inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        Finish(exception);
        _inner.Complete(exception);
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Finish(exception);
        return _inner.CompleteAsync(exception);
    }

    private void Finish(Exception? exception)
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            PnetLog.InboundEnded(_logger, _cipher.Position, exception);
            _cipher.Dispose();
        }
    }
}
