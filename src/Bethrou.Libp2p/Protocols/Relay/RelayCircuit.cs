using System.Buffers;
using System.IO.Pipelines;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>How a relayed connection ended at the relay.</summary>
public enum CircuitEnd
{
    /// <summary>Both ends half-closed (FIN each way).</summary>
    Closed,

    /// <summary>One direction passed the data limit: both streams were reset.</summary>
    DataLimit,

    /// <summary>The duration limit expired: both streams were reset.</summary>
    DurationLimit,

    /// <summary>One end reset its stream or its connection died: the other was reset too.</summary>
    Reset,

    /// <summary>The relay is stopping.</summary>
    Cancelled,
}

/// <summary>Pipes bytes both ways between the HOP stream (dialer) and the STOP stream (target) with the limits enforced.</summary>
internal static class RelayCircuit
{
    private enum CopyEnd
    {
        Completed,
        LimitReached,
        Failed,
        Cancelled,
    }

    public readonly record struct Result(CircuitEnd End, long Up, long Down);

    /// <param name="source">The dialer's HOP stream (bytes read here go "up" to the target).</param>
    /// <param name="target">The target's STOP stream.</param>
    public static async Task<Result> RunAsync(IDuplexPipe source, Action resetSource, IDuplexPipe target, Action resetTarget,
        ulong dataLimit, TimeSpan durationLimit, TimeProvider time, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var durationHit = 0;
        using var timer = durationLimit > TimeSpan.Zero
            ? time.CreateTimer(_ =>
            {
                Volatile.Write(ref durationHit, 1);
                cts.Cancel();
            }, null, durationLimit, Timeout.InfiniteTimeSpan)
            : null;
        var counters = new long[2];
        var up = CopyAsync(source.Input, target.Output, dataLimit, counters, 0, cts.Token);
        var down = CopyAsync(target.Input, source.Output, dataLimit, counters, 1, cts.Token);
        var first = await Task.WhenAny(up, down).ConfigureAwait(false);
        var firstEnd = await first.ConfigureAwait(false);
        CopyEnd secondEnd;
        if (firstEnd == CopyEnd.Completed)
        {
            secondEnd = await (first == up ? down : up).ConfigureAwait(false);
        }
        else
        {
            resetSource();
            resetTarget();
            await cts.CancelAsync().ConfigureAwait(false);
            secondEnd = await (first == up ? down : up).ConfigureAwait(false);
        }
        var end = Classify(firstEnd, secondEnd, Volatile.Read(ref durationHit) == 1, ct.IsCancellationRequested);
        if (end != CircuitEnd.Closed && firstEnd == CopyEnd.Completed)
        {
            resetSource();
            resetTarget();
        }
        return new Result(end, Interlocked.Read(ref counters[0]), Interlocked.Read(ref counters[1]));
    }

    private static CircuitEnd Classify(CopyEnd first, CopyEnd second, bool durationHit, bool stopping)
    {
        if (first == CopyEnd.Completed && second == CopyEnd.Completed)
        {
            return CircuitEnd.Closed;
        }
        if (first == CopyEnd.LimitReached || second == CopyEnd.LimitReached)
        {
            return CircuitEnd.DataLimit;
        }
        if (durationHit)
        {
            return CircuitEnd.DurationLimit;
        }
        return stopping ? CircuitEnd.Cancelled : CircuitEnd.Reset;
    }

    private static async Task<CopyEnd> CopyAsync(PipeReader from, PipeWriter to, ulong limit, long[] counters, int index, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync(ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    var total = Interlocked.Read(ref counters[index]);
                    if (limit != 0 && (ulong)(total + buffer.Length) > limit)
                    {
                        from.AdvanceTo(buffer.Start);
                        return CopyEnd.LimitReached;
                    }
                    foreach (var segment in buffer)
                    {
                        to.Write(segment.Span);
                    }
                    Interlocked.Add(ref counters[index], buffer.Length);
                    from.AdvanceTo(buffer.End);
                    var flush = await to.FlushAsync(ct).ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        return CopyEnd.Failed;
                    }
                }
                else
                {
                    from.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted)
                {
                    await to.CompleteAsync().ConfigureAwait(false);
                    return CopyEnd.Completed;
                }
                if (result.IsCanceled)
                {
                    return CopyEnd.Cancelled;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return CopyEnd.Cancelled;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return CopyEnd.Failed;
        }
    }
}
