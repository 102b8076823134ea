using System.IO.Pipelines;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Pnet;

/// <summary>Hands out the inner writer's memory and encrypts it in place when the caller advances, so the bytes are
/// written once and XORed once, on the caller's thread.</summary>
internal sealed class PnetWriter : PipeWriter
{
    private readonly PipeWriter _inner;
    private readonly XSalsa20Stream _cipher;
    private readonly ILogger _logger;
    private Memory<byte> _lent;
    private int _completed;

    public PnetWriter(PipeWriter inner, XSalsa20Stream cipher, ILogger logger)
    {
        _inner = inner;
        _cipher = cipher;
        _logger = logger;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => _lent = _inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => (_lent = _inner.GetMemory(sizeHint)).Span;

    public override void Advance(int bytes)
    {
        if ((uint)bytes > (uint)_lent.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), $"pnet: advanced {bytes} bytes past the {_lent.Length} bytes handed out");
        }
        if (bytes > 0)
        {
            if (Volatile.Read(ref _completed) != 0)
            {
                throw new InvalidOperationException("pnet: writing after the writer was completed");
            }
            _cipher.Transform(_lent.Span[..bytes]);
        }
        _lent = default;
        _inner.Advance(bytes);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => _inner.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;

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
            PnetLog.OutboundEnded(_logger, _cipher.Position, exception);
            _cipher.Dispose();
        }
    }
}
