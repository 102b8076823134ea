using System.IO.Pipelines;
using System.Runtime.ExceptionServices;

namespace Bethrou.Libp2p.Transport;

/// <summary>
/// Runs a continuation inline, except while the current thread is inside a <see cref="Defer"/> scope: then it is kept
/// and run, in order, when the outermost scope ends. A loop that completes pipes while it holds locks (yamux's read
/// loop flushing a stream's input, its write loop freeing a stream's output) opens a scope around that work, so the
/// application's code never runs under the loop's locks or in the middle of its batch, and still runs on the same
/// thread, without a thread hop.
/// </summary>
public sealed class DeferredInlineScheduler : PipeScheduler
{
    public static DeferredInlineScheduler Instance { get; } = new();

    [ThreadStatic]
    private static int t_depth;

    [ThreadStatic]
    private static Queue<(Action<object?> Action, object? State)>? t_deferred;

    [ThreadStatic]
    private static Queue<(Action<object?> Action, object? State)>? t_last;

    private DeferredInlineScheduler()
    {
    }

    /// <summary>True while the current thread is inside a <see cref="Defer"/> scope.</summary>
    public static bool IsDeferring => t_depth > 0;

    public override void Schedule(Action<object?> action, object? state) => RunOrDefer(ref t_deferred, action, state);

    /// <summary>Like <see cref="Schedule"/>, but inside a scope it runs only after every continuation scheduled the
    /// ordinary way has run: for a writer that sends what the others wrote (yamux's write loop), so that what the
    /// batch's continuations write goes out with it in one send instead of one send each.</summary>
    public static void ScheduleLast(Action<object?> action, object? state) => RunOrDefer(ref t_last, action, state);

    private static void RunOrDefer(ref Queue<(Action<object?> Action, object? State)>? queue, Action<object?> action, object? state)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (t_depth > 0)
        {
            (queue ??= new Queue<(Action<object?>, object?)>()).Enqueue((action, state));
            return;
        }
        action(state);
    }

    /// <summary>Opens a scope on this thread; disposing it (synchronously, on the same thread, with no await in
    /// between) runs what was deferred once the outermost scope ends.</summary>
    public static Scope Defer()
    {
        t_depth++;
        return default;
    }

    /// <summary>An open <see cref="Defer"/> scope.</summary>
    public readonly struct Scope : IDisposable
    {
        public void Dispose()
        {
            if (--t_depth > 0)
            {
                return;
            }
            // Continuations run outside any scope: what they make ready runs inline at once (nested, bounded by the
            // number of distinct waiters), and what they defer in scopes of their own is run when those end. One that
            // throws (a bug: pipe and task continuations do not) does not strand the others; the first error goes on.
            ExceptionDispatchInfo? error = null;
            while (true)
            {
                (Action<object?> Action, object? State) item;
                if (t_deferred is { Count: > 0 } queue)
                {
                    item = queue.Dequeue();
                }
                else if (t_last is { Count: > 0 } last)
                {
                    item = last.Dequeue();
                }
                else
                {
                    break;
                }
                try
                {
                    item.Action(item.State);
                }
                catch (Exception e)
                {
                    error ??= ExceptionDispatchInfo.Capture(e);
                }
            }
            error?.Throw();
        }
    }
}
