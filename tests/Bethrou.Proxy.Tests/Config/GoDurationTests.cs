using Bethrou.Proxy.Config;

namespace Bethrou.Proxy.Tests.Config;

public sealed class GoDurationTests
{
    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("500ms", 500)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("2h45m", 9_900_000)]
    [InlineData(".5s", 500)]
    [InlineData("1000us", 1)]
    [InlineData("1000µs", 1)]
    [InlineData("1000000ns", 1)]
    [InlineData("0", 0)]
    [InlineData("+10s", 10_000)]
    [InlineData("-1s", -1000)]
    public void Parses_go_syntax(string text, long ms)
    {
        Assert.True(GoDuration.TryParse(text, out var d, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(ms), d);
    }

    [Theory]
    [InlineData("30", "invalid duration '30': missing unit (use e.g. 30s, 1m30s, 500ms)")]
    [InlineData("10 s", "invalid duration '10 s': unknown unit ' s' (valid units: ns, us, ms, s, m, h)")]
    [InlineData("5d", "invalid duration '5d': unknown unit 'd' (valid units: ns, us, ms, s, m, h)")]
    [InlineData("s", "invalid duration 's' (use e.g. 30s, 1m30s, 500ms)")]
    [InlineData("1..5s", "invalid duration '1..5s' (use e.g. 30s, 1m30s, 500ms)")]
    [InlineData("", "duration is empty")]
    [InlineData("-", "invalid duration '-'")]
    [InlineData("99999999999h", "invalid duration '99999999999h': too large")]
    public void Rejects_bad_durations(string text, string expected)
    {
        Assert.False(GoDuration.TryParse(text, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(500, "500ms")]
    [InlineData(30_000, "30s")]
    [InlineData(1500, "1.5s")]
    [InlineData(90_000, "1m30s")]
    [InlineData(3_600_000, "1h0m0s")]
    public void Formats_like_go(long ms, string expected)
    {
        Assert.Equal(expected, GoDuration.Format(TimeSpan.FromMilliseconds(ms)));
    }
}
