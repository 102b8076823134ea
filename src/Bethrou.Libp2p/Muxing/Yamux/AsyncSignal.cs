using System.Threading.Tasks.Sources;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>An allocation-free auto-reset event for exactly one waiter (the session's write loop). Any number of
/// threads may call <see cref="Set"/>; a set with no waiter is remembered once. Inline, the waiter runs in the
/// <see cref="Set"/> call (inside a <see cref="DeferredInlineScheduler.Defer"/> scope: after the scope's other
/// continuations, see <see cref="DeferredInlineScheduler.ScheduleLast"/>); otherwise on the thread pool.</summary>
internal sealed class AsyncSignal(bool inline = false) : IValueTaskSource
{
    private const int Idle = 0;
    private const int Signaled = 1;
    private const int Waiting = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = !inline };
    private int _state;

    public void Set()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            switch (state)
            {
                case Signaled:
                    return;
                case Idle:
                    if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle)
                    {
                        return;
                    }
                    break;
                default:
                    if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                    {
                        if (inline)
                        {
                            DeferredInlineScheduler.ScheduleLast(static s => ((AsyncSignal)s!)._core.SetResult(true), this);
                        }
                        else
                        {
                            _core.SetResult(true);
                        }
                        return;
                    }
                    break;
            }
        }
    }

    /// <summary>Completes at once if signaled since the last wait; otherwise when <see cref="Set"/> is next called.
    /// Not for concurrent waiters.</summary>
    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled)
        {
            return ValueTask.CompletedTask;
        }
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Idle)
        {
            return new ValueTask(this, _core.Version);
        }
        // Set() ran between the two exchanges: consume it.
        Interlocked.Exchange(ref _state, Idle);
        return ValueTask.CompletedTask;
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
