using System.Buffers;
using System.IO.Pipelines;

namespace Bethrou.Proxy.Protocol;

/// <summary>
/// Reads and writes the proxy handshake lines on a stream's pipes. Reads consume exactly one line and leave every
/// later byte in the <see cref="PipeReader"/>; failures throw <see cref="ProxyProtocolException"/>.
/// </summary>
internal static class ProxyStreamProtocol
{
    private delegate ProxyFrameStatus TryReadFrame<T>(ref ReadOnlySequence<byte> buffer, out T value, out string? error);

    public static ValueTask<ProxyRequest> ReadRequestAsync(PipeReader reader, CancellationToken cancellationToken) =>
        ReadLineAsync<ProxyRequest>(reader, ProxyMessageCodec.TryReadRequest, "proxy request", cancellationToken);

    public static ValueTask<ProxyResponse> ReadResponseAsync(PipeReader reader, CancellationToken cancellationToken) =>
        ReadLineAsync<ProxyResponse>(reader, ProxyMessageCodec.TryReadResponse, "proxy response", cancellationToken);

    public static ValueTask<FlushResult> WriteRequestAsync(PipeWriter writer, ProxyRequest request, CancellationToken cancellationToken)
    {
        ProxyMessageCodec.WriteRequest(writer, request);
        return writer.FlushAsync(cancellationToken);
    }

    public static ValueTask<FlushResult> WriteResponseAsync(PipeWriter writer, ProxyResponse response, CancellationToken cancellationToken)
    {
        ProxyMessageCodec.WriteResponse(writer, response);
        return writer.FlushAsync(cancellationToken);
    }

    private static async ValueTask<T> ReadLineAsync<T>(
        PipeReader reader, TryReadFrame<T> tryRead, string what, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = tryRead(ref buffer, out var value, out var error);
            if (status == ProxyFrameStatus.Ok)
            {
                reader.AdvanceTo(buffer.Start);
                return value;
            }
            var length = buffer.Length;
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (status != ProxyFrameStatus.NeedMoreData)
            {
                throw new ProxyProtocolException(status, error ?? $"invalid {what}");
            }
            if (result.IsCanceled)
            {
                throw new OperationCanceledException($"reading the {what} was canceled");
            }
            if (result.IsCompleted)
            {
                throw new ProxyProtocolException(
                    ProxyFrameStatus.NeedMoreData,
                    length == 0
                        ? $"stream ended before the {what}"
                        : $"stream ended after {length} bytes of the {what} without its terminating newline");
            }
        }
    }
}
