using System.Globalization;
using System.IO.Pipelines;
using Bethrou.Libp2p.Multistream;
using Bethrou.Proxy.Protocol;

namespace Bethrou.Proxy.Client;

/// <summary>The exit refused a fast-open request after the application was already told "succeeded".</summary>
internal sealed class FastOpenRefusedException(string message, ProxyErrorCode code) : IOException(message)
{
    public ProxyErrorCode Code { get; } = code;
}

/// <summary>
/// The tunnel's input for a fast-open stream: the application already has its SOCKS success and may have sent
/// data, so the exit's answer (multistream echo, then the JSON response line) is read here, on the first read,
/// within <paramref name="timeout"/>. After an <c>ok</c> every later byte passes through untouched; an error
/// response, a refused protocol or no answer in time fails the read with an <see cref="IOException"/> that names the
/// cause (the pump then resets the application's connection).
/// </summary>
internal sealed class FastOpenReader(PipeReader inner, string protocol, TimeSpan timeout, TimeProvider time) : PipeReader
{
    private bool _ready;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
        _ready ? inner.ReadAsync(cancellationToken) : ReadAfterAnswerAsync(cancellationToken);

    public override bool TryRead(out ReadResult result)
    {
        if (_ready)
        {
            return inner.TryRead(out result);
        }
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    private async ValueTask<ReadResult> ReadAfterAnswerAsync(CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        ProxyResponse response;
        try
        {
            await MultistreamSelect.ReadLazyAnswerAsync(inner, protocol, linked.Token).ConfigureAwait(false);
            response = await ProxyStreamProtocol.ReadResponseAsync(inner, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new IOException(string.Create(CultureInfo.InvariantCulture,
                $"fast open: the exit did not answer the proxy request within {timeout.TotalSeconds:0.#} s"));
        }
        catch (ProxyProtocolException e)
        {
            throw new IOException("fast open: bad answer from the exit: " + e.Message, e);
        }
        if (!response.IsOk)
        {
            throw new FastOpenRefusedException(
                "fast open: the exit refused the destination after the SOCKS reply: " + (response.Message ?? "no reason given"),
                response.ErrorCode);
        }
        _ready = true;
        return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
    }
}
