using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Libp2p.Tests.Transport;

public class DeferredInlineSchedulerTests
{
    private static readonly DeferredInlineScheduler Scheduler = DeferredInlineScheduler.Instance;

    [Fact]
    public void OutsideAScopeRunsAtOnceOnTheCallingThread()
    {
        var thread = -1;
        Scheduler.Schedule(_ => thread = Environment.CurrentManagedThreadId, null);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
        Assert.False(DeferredInlineScheduler.IsDeferring);
    }

    [Fact]
    public void InsideScopesRunsInOrderWhenTheOutermostEnds()
    {
        var log = new List<string>();
        using (DeferredInlineScheduler.Defer())
        {
            Scheduler.Schedule(s => log.Add((string)s!), "a");
            using (DeferredInlineScheduler.Defer())
            {
                Scheduler.Schedule(s => log.Add((string)s!), "b");
            }
            Assert.Empty(log); // the inner scope's end is not the outermost
            Assert.True(DeferredInlineScheduler.IsDeferring);
            Scheduler.Schedule(s => log.Add((string)s!), "c");
            Assert.Empty(log);
        }
        Assert.Equal(["a", "b", "c"], log);
        Assert.False(DeferredInlineScheduler.IsDeferring);
    }

    [Fact]
    public void WhatADeferredContinuationSchedulesRunsInlineOrInItsOwnScope()
    {
        var log = new List<string>();
        using (DeferredInlineScheduler.Defer())
        {
            Scheduler.Schedule(_ =>
            {
                log.Add("first");
                Scheduler.Schedule(_ => log.Add("nested inline"), null);
                using (DeferredInlineScheduler.Defer())
                {
                    Scheduler.Schedule(_ => log.Add("nested deferred"), null);
                    log.Add("first ends its scope");
                }
            }, null);
            Scheduler.Schedule(_ => log.Add("second"), null);
        }
        // The nested scope is the outermost one on the thread while the queue drains, so its end runs everything still
        // queued there, in order: "second" was queued before "nested deferred".
        Assert.Equal(["first", "nested inline", "first ends its scope", "second", "nested deferred"], log);
    }

    [Fact]
    public void ScheduleLastRunsAfterTheOrdinaryContinuationsOfItsScopeAndInlineOutsideOne()
    {
        var log = new List<string>();
        DeferredInlineScheduler.ScheduleLast(_ => log.Add("inline"), null);
        Assert.Equal(["inline"], log);
        log.Clear();
        using (DeferredInlineScheduler.Defer())
        {
            DeferredInlineScheduler.ScheduleLast(_ => log.Add("last 1"), null);
            Scheduler.Schedule(_ =>
            {
                log.Add("a");
                // Outside the scope now: a writer woken here runs at once, as it would with no scope at all.
                DeferredInlineScheduler.ScheduleLast(_ => log.Add("last from a"), null);
            }, null);
            DeferredInlineScheduler.ScheduleLast(_ =>
            {
                log.Add("last 2");
                Scheduler.Schedule(_ => log.Add("b from last 2"), null);
            }, null);
        }
        Assert.Equal(["a", "last from a", "last 1", "last 2", "b from last 2"], log);
    }

    [Fact]
    public void AThrowingContinuationDoesNotStrandTheOthers()
    {
        var ran = new List<int>();
        var scope = DeferredInlineScheduler.Defer();
        Scheduler.Schedule(_ => ran.Add(1), null);
        Scheduler.Schedule(_ => throw new InvalidOperationException("boom"), null);
        Scheduler.Schedule(_ => ran.Add(3), null);
        var e = Assert.Throws<InvalidOperationException>(scope.Dispose);
        Assert.Equal("boom", e.Message);
        Assert.Equal([1, 3], ran);
        Assert.False(DeferredInlineScheduler.IsDeferring);
        // The thread is clean afterwards: nothing left over runs at the next scope's end.
        using (DeferredInlineScheduler.Defer())
        {
        }
        Assert.Equal([1, 3], ran);
    }

    [Fact]
    public async Task APipeReaderWaitingOnAFlushUnderALockRunsAfterTheScopeOnTheSameThreadWithoutTheLock()
    {
        var pipe = new Pipe(new PipeOptions(readerScheduler: Scheduler, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, useSynchronizationContext: false));
        var gate = new object();
        var resumedOn = -1;
        var lockHeld = true;
        var scopeOpen = true;
        async Task<long> ReadOnce()
        {
            var result = await pipe.Reader.ReadAsync().ConfigureAwait(false);
            resumedOn = Environment.CurrentManagedThreadId;
            lockHeld = Monitor.IsEntered(gate);
            scopeOpen = DeferredInlineScheduler.IsDeferring;
            pipe.Reader.AdvanceTo(result.Buffer.End);
            return result.Buffer.Length;
        }
        // Runs up to its pending read and returns: the reader is parked on the pipe.
        var reader = ReadOnce();
        Assert.False(reader.IsCompleted);
        var writerThread = -1;
        await Task.Run(() =>
        {
            writerThread = Environment.CurrentManagedThreadId;
            using (DeferredInlineScheduler.Defer())
            {
                lock (gate)
                {
                    pipe.Writer.Write("hello"u8);
                    var flush = pipe.Writer.FlushAsync();
                    Assert.True(flush.IsCompleted);
                    Assert.False(reader.IsCompleted); // deferred: not run under the lock
                }
            }
            Assert.True(reader.IsCompleted); // ran when the scope ended, before Dispose returned
        });
        Assert.Equal(5, await reader);
        Assert.Equal(writerThread, resumedOn);
        Assert.False(lockHeld);
        Assert.False(scopeOpen);
    }

    [Fact]
    public async Task InlineSignalRunsItsWaiterInSetOrAtTheEndOfTheSettersScope()
    {
        var signal = new AsyncSignal(inline: true);
        var wakes = 0;
        var wokeOn = -1;
        async Task WaitLoop()
        {
            while (true)
            {
                await signal.WaitAsync().ConfigureAwait(false); // no xunit context: resume where Set runs
                wokeOn = Environment.CurrentManagedThreadId;
                if (++wakes == 2)
                {
                    return;
                }
            }
        }
        var loop = WaitLoop();
        Assert.False(loop.IsCompleted);

        await Task.Run(() =>
        {
            signal.Set();
            Assert.Equal(1, wakes); // ran inside Set
            Assert.Equal(Environment.CurrentManagedThreadId, wokeOn);
            using (DeferredInlineScheduler.Defer())
            {
                signal.Set();
                Assert.Equal(1, wakes); // deferred to the scope's end
            }
            Assert.Equal(2, wakes);
        });
        await loop;
    }

    [Theory]
    [InlineData(null, true, true)]
    [InlineData(null, false, false)]
    [InlineData("", true, true)]
    [InlineData("", false, false)]
    [InlineData("inline", false, true)]
    [InlineData(" Inline ", true, true)]
    [InlineData("threadpool", true, false)]
    [InlineData("ThreadPool", false, false)]
    public void SchedulingModeIsTheVariableOrElseFollowsInlineSocketCompletions(string? value, bool inlineSocketCompletions, bool inline)
    {
        var (parsed, error) = IoScheduling.Parse(value, inlineSocketCompletions);
        Assert.Equal(inline, parsed);
        Assert.Null(error);
    }

    [Fact]
    public void AnUnknownSchedulingModeIsAnErrorThatNamesTheVariableAndTheChoices()
    {
        var (_, error) = IoScheduling.Parse("fast", inlineSocketCompletions: true);
        Assert.Equal("BETHROU_IO_SCHEDULING: `fast` is not a scheduling mode (expected `inline` or `threadpool`)", error);
    }

    [Fact]
    public void TheTestsRunWithTheSchedulingThatShips()
    {
        // tests/inline-io.runsettings turns on inline socket completions for every test host, as bethrou does.
        Assert.Equal("1", Environment.GetEnvironmentVariable(IoScheduling.InlineSocketCompletionsVariable));
        Assert.True(IoScheduling.Inline);
        Assert.Same(PipeScheduler.Inline, IoScheduling.PipeScheduler);
    }
}
