using Bethrou.Libp2p.Muxing.Yamux;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Libp2p.Tests.Muxing;

public class YamuxReceiveWindowTests
{
    private const long Initial = 256 * 1024;
    private const long Max = 16 * 1024 * 1024;

    [Fact]
    public void GrantsOnlyAfterHalfTheWindowIsConsumed()
    {
        var time = new FakeTimeProvider();
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());
        Assert.True(window.TryReceive((uint)Initial));
        Assert.Equal(0, window.Credit);
        time.Advance(YamuxReceiveWindow.FallbackGrowthInterval); // too slow for growth without an RTT
        Assert.Equal(0, window.OnConsumed(Initial / 2 - 1, time.GetTimestamp(), TimeSpan.Zero, Max, time));
        Assert.Equal(Initial / 2, window.OnConsumed(1, time.GetTimestamp(), TimeSpan.Zero, Max, time));
        Assert.Equal(Initial / 2, window.Credit);
        Assert.Equal(Initial, window.Target);
    }

    [Fact]
    public void RejectsDataBeyondTheCredit()
    {
        var time = new FakeTimeProvider();
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());
        Assert.False(window.TryReceive((uint)Initial + 1));
        Assert.True(window.TryReceive(100));
        Assert.False(window.TryReceive((uint)Initial - 99));
        Assert.True(window.TryReceive((uint)Initial - 100));
    }

    [Fact]
    public void DoublesWhenUpdatesComeFasterThanFourRtt()
    {
        var time = new FakeTimeProvider();
        var rtt = TimeSpan.FromMilliseconds(50);
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());
        var targets = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(10)); // well under 4×RTT
            var credit = window.Credit;
            Assert.True(window.TryReceive((uint)credit));
            var grant = window.OnConsumed(credit, time.GetTimestamp(), rtt, Max, time);
            Assert.Equal(window.Target, grant); // everything consumed: the full target is granted again
            targets.Add(window.Target);
        }
        Assert.Equal([512 * 1024, 1024 * 1024, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20], targets);
    }

    [Fact]
    public void DoesNotGrowWhenSlow()
    {
        var time = new FakeTimeProvider();
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());
        Assert.True(window.TryReceive((uint)Initial));
        time.Advance(TimeSpan.FromMilliseconds(200)); // 4×RTT = 200 ms: not less
        window.OnConsumed(Initial, time.GetTimestamp(), TimeSpan.FromMilliseconds(50), Max, time);
        Assert.Equal(Initial, window.Target);
    }

    [Fact]
    public void WithoutRttGrowsOnlyWhenTheWindowWasUsedUpQuickly()
    {
        var time = new FakeTimeProvider();
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());

        // Half the window used, consumed fast: the peer was never blocked, no growth.
        Assert.True(window.TryReceive((uint)Initial / 2));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(Initial / 2, window.OnConsumed(Initial / 2, time.GetTimestamp(), TimeSpan.Zero, Max, time));
        Assert.Equal(Initial, window.Target);

        // The whole credit used up within 40 ms: the window doubles.
        Assert.True(window.TryReceive((uint)window.Credit));
        Assert.True(window.Exhausted);
        time.Advance(TimeSpan.FromMilliseconds(39));
        Assert.Equal(Initial * 2, window.OnConsumed(Initial, time.GetTimestamp(), TimeSpan.Zero, Max, time));
        Assert.Equal(Initial * 2, window.Target);
        Assert.False(window.Exhausted);

        // Used up, but slowly: no growth.
        Assert.True(window.TryReceive((uint)window.Credit));
        time.Advance(TimeSpan.FromMilliseconds(40));
        window.OnConsumed(Initial * 2, time.GetTimestamp(), TimeSpan.Zero, Max, time);
        Assert.Equal(Initial * 2, window.Target);
    }

    [Fact]
    public void ForgetDoesNotGrant()
    {
        var time = new FakeTimeProvider();
        var window = new YamuxReceiveWindow(Initial, time.GetTimestamp());
        Assert.True(window.TryReceive(1000));
        window.Forget(1000);
        Assert.Equal(Initial - 1000, window.Credit);
        Assert.Equal(0, window.Unread);
    }
}
