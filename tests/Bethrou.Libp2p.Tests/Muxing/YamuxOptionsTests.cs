using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Libp2p.Tests.Muxing;

public class YamuxOptionsTests
{
    [Fact]
    public void DefaultsAreValid()
    {
        var options = new YamuxOptions();
        options.Validate();
        Assert.Equal(256 * 1024, options.InitialStreamWindow);
        Assert.Equal(16 * 1024 * 1024, options.MaxStreamWindow);
        Assert.Equal(256, options.AcceptBacklog);
        Assert.Equal(1000, options.MaxInboundStreams);
        Assert.Equal(TimeSpan.FromSeconds(30), options.KeepAliveInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), options.PingTimeout);
    }

    [Fact]
    public void ReportsEveryBadSetting()
    {
        var options = new YamuxOptions { InitialStreamWindow = 1000, MaxDataFrameSize = 10, AcceptBacklog = 0, PingTimeout = TimeSpan.Zero };
        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Contains("InitialStreamWindow is 1000; it must be at least 262144", error.Message);
        Assert.Contains("MaxDataFrameSize is 10; it must be between 1024 and 16 MiB.", error.Message);
        Assert.Contains("AcceptBacklog is 0; it must be at least 1.", error.Message);
        Assert.Contains("PingTimeout is 00:00:00; it must be positive", error.Message);
    }

    [Fact]
    public void SessionConstructorValidates()
    {
        var (a, _) = Bethrou.Libp2p.Transport.DuplexPipe.CreatePair();
        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(a, true, new YamuxOptions { MaxStreamWindow = 1 },
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System));
    }
}
