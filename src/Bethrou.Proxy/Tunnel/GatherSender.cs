using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Bethrou.Proxy.Tunnel;

/// <summary>Sends a <see cref="ReadOnlySequence{T}"/> on a socket: one send for a single segment, several segments
/// gathered into one sendmsg per call (up to <see cref="MaxGather"/>) instead of one send per segment (pipes hand out
/// 16-64 KiB segments). One instance per sending loop: it reuses its segment list.</summary>
internal sealed class GatherSender(Socket socket)
{
    private const int MaxGather = 64;

    private readonly List<ArraySegment<byte>> _gather = new(MaxGather);

    /// <summary>Sends all of <paramref name="buffer"/>; <paramref name="sent"/> is told each amount that went out.
    /// <paramref name="cancellationToken"/> applies to single-segment sends; a gathered send ends when the socket is
    /// closed (the callers reset the socket to stop a tunnel).</summary>
    public async ValueTask SendAllAsync(ReadOnlySequence<byte> buffer, Action<int>? sent, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var n = buffer.IsSingleSegment || !TryGather(buffer)
                ? await socket.SendAsync(buffer.First, SocketFlags.None, cancellationToken).ConfigureAwait(false)
                : await socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
            sent?.Invoke(n);
            buffer = buffer.Slice(n);
        }
    }

    private bool TryGather(in ReadOnlySequence<byte> buffer)
    {
        _gather.Clear();
        foreach (var segment in buffer)
        {
            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                return false;
            }
            _gather.Add(array);
            if (_gather.Count == MaxGather)
            {
                break;
            }
        }
        return true;
    }
}
