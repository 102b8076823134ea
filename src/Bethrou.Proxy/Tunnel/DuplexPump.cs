using System.IO.Pipelines;

namespace Bethrou.Proxy.Tunnel;

/// <summary>
/// Copies bytes both ways between two <see cref="IDuplexPipe"/>s (a SOCKS client and its tunnel), each direction
/// on its own, with TCP half-close semantics.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>When one direction's input ends, the other pipe's output is completed (FIN) and the other direction keeps
/// copying until it ends too: an application that shuts down its write side still receives the whole response.</item>
/// <item>There is no idle timeout: a long one-way transfer is never cut.</item>
/// <item>On the first failure (a read or write throws, or the caller cancels) the other direction is cancelled at
/// once and both outputs are completed with an exception, which aborts (resets) the underlying transports. The first
/// failure is reported (YARP's upgraded-connection semantics).</item>
/// <item>When the run returns, all four pipe ends (both inputs, both outputs) have been completed.</item>
/// <item>No allocations per read: pipes' own <see cref="ValueTask"/>s, whole segments copied straight into the
/// output's memory, one flush per read.</item>
/// </list>
/// </remarks>
public static class DuplexPump
{
    public static async ValueTask<PumpResult> RunAsync(IDuplexPipe a, IDuplexPipe b, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var run = new PumpRun(a, b);
        using (cancellationToken.UnsafeRegister(static s => ((PumpRun)s!).Cancel(), run))
        {
            if (cancellationToken.IsCancellationRequested)
            {
                run.Cancel();
            }
            // An output that is a SocketDuplexPipe is sent to straight from the input's buffers (after what was
            // already written to it has gone out): no copy into its send pipe, no hop to its send loop.
            var aToB = run.CopyAsync(a.Input, b.Output, PumpSide.A, PumpSide.B, b as SocketDuplexPipe);
            var bToA = run.CopyAsync(b.Input, a.Output, PumpSide.B, PumpSide.A, a as SocketDuplexPipe);
            var bytesAToB = await aToB.ConfigureAwait(false);
            var bytesBToA = await bToA.ConfigureAwait(false);
            return run.Finish(bytesAToB, bytesBToA);
        }
    }

    private sealed class PumpRun(IDuplexPipe a, IDuplexPipe b)
    {
        private readonly Lock _gate = new();
        private PumpStatus _status = PumpStatus.Completed;
        private PumpSide _failedSide;
        private Exception? _error;
        private volatile bool _stopping;

        public void Cancel()
            => Fail(PumpStatus.Canceled, PumpSide.None, new TunnelAbortedException("The tunnel was cancelled by its owner."));

        public async Task<long> CopyAsync(PipeReader input, PipeWriter output, PumpSide inputSide, PumpSide outputSide, SocketDuplexPipe? socket)
        {
            long bytes = 0;
            if (socket is not null)
            {
                await socket.DrainAsync().ConfigureAwait(false);
            }
            while (!_stopping)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Fail(PumpStatus.ReadFailed, inputSide, ex);
                    break;
                }
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    input.AdvanceTo(buffer.Start);
                    StoppedFromOutside();
                    break; // Stop() after the other direction failed, or the owner cancelled.
                }
                FlushResult flush = default;
                if (!buffer.IsEmpty && socket is not null)
                {
                    try
                    {
                        await socket.SendDirectAsync(buffer).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        input.AdvanceTo(buffer.Start);
                        Fail(PumpStatus.WriteFailed, outputSide, ex);
                        break;
                    }
                    bytes += buffer.Length;
                    input.AdvanceTo(buffer.End);
                }
                else if (!buffer.IsEmpty)
                {
                    try
                    {
                        foreach (var segment in buffer)
                        {
                            var memory = output.GetMemory(segment.Length);
                            segment.Span.CopyTo(memory.Span);
                            output.Advance(segment.Length);
                        }
                        bytes += buffer.Length;
                        input.AdvanceTo(buffer.End);
                        flush = await output.FlushAsync().ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        Fail(PumpStatus.WriteFailed, outputSide, ex);
                        break;
                    }
                    if (flush.IsCanceled)
                    {
                        StoppedFromOutside();
                        break; // Stop()
                    }
                    if (flush.IsCompleted && !result.IsCompleted)
                    {
                        // The output's consumer has gone (e.g. its socket's send side failed): nothing can be delivered.
                        Fail(PumpStatus.WriteFailed, outputSide,
                            new IOException("The output stopped accepting data before the input ended."));
                        break;
                    }
                }
                else
                {
                    input.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted)
                {
                    // End of stream: pass the half-close on and let the other direction finish.
                    await input.CompleteAsync().ConfigureAwait(false);
                    await output.CompleteAsync().ConfigureAwait(false);
                    MarkDone(inputSide);
                    return bytes;
                }
            }
            return bytes;
        }

        public PumpResult Finish(long bytesAToB, long bytesBToA)
        {
            PumpStatus status;
            PumpSide side;
            Exception? error;
            lock (_gate)
            {
                status = _status;
                side = _failedSide;
                error = _error;
            }
            if (status != PumpStatus.Completed)
            {
                var abort = status == PumpStatus.Canceled
                    ? error!
                    : new TunnelAbortedException("The tunnel was aborted: " + Describe(status, side) + ".", error);
                // Directions that already ended normally have completed their own ends.
                if (!_aDone)
                {
                    a.Input.Complete(abort);
                    b.Output.Complete(abort);
                }
                if (!_bDone)
                {
                    b.Input.Complete(abort);
                    a.Output.Complete(abort);
                }
            }
            return new PumpResult(status, side, bytesAToB, bytesBToA, error);
        }

        private bool _aDone;
        private bool _bDone;

        private void MarkDone(PumpSide inputSide)
        {
            if (inputSide == PumpSide.A)
            {
                _aDone = true;
            }
            else
            {
                _bDone = true;
            }
        }

        // A read or flush was cancelled by someone other than this run (CancelPendingRead/Flush on a pipe it pumps):
        // the direction cannot go on, so the tunnel is torn down as cancelled. A no-op when the run is already stopping.
        private void StoppedFromOutside()
            => Fail(PumpStatus.Canceled, PumpSide.None, new TunnelAbortedException("A pending read or flush was cancelled outside the pump."));

        private void Fail(PumpStatus status, PumpSide side, Exception error)
        {
            lock (_gate)
            {
                if (_stopping)
                {
                    return;
                }
                _stopping = true;
                _status = status;
                _failedSide = side;
                _error = error;
            }
            // Wake both directions wherever they wait; the cancellations are sticky, so a direction that is between
            // calls sees them on its next read or flush.
            CancelQuietly(a.Input.CancelPendingRead);
            CancelQuietly(b.Input.CancelPendingRead);
            CancelQuietly(a.Output.CancelPendingFlush);
            CancelQuietly(b.Output.CancelPendingFlush);
            // A direct send blocked on a peer that does not read wakes only when its socket goes. The outputs are
            // completed with the error (a reset) when the run ends anyway, so reset now.
            (a as SocketDuplexPipe)?.Abort(error);
            (b as SocketDuplexPipe)?.Abort(error);
        }

        private static void CancelQuietly(Action cancel)
        {
            try
            {
                cancel();
            }
            catch (Exception)
            {
                // That end is already completed; nothing to wake.
            }
        }

        private static string Describe(PumpStatus status, PumpSide side)
            => status == PumpStatus.ReadFailed ? "reading from side " + side + " failed" : "writing to side " + side + " failed";
    }
}
