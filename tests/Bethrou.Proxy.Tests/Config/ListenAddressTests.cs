using Bethrou.Proxy.Config;

namespace Bethrou.Proxy.Tests.Config;

public sealed class ListenAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:1080", "127.0.0.1", 1080, true)]
    [InlineData("[::1]:1080", "::1", 1080, true)]
    [InlineData("0.0.0.0:1080", "0.0.0.0", 1080, false)]
    [InlineData("[::]:0", "::", 0, false)]
    [InlineData("localhost:1080", "localhost", 1080, true)]
    [InlineData("127.5.5.5:65535", "127.5.5.5", 65535, true)]
    public void Parses(string text, string host, int port, bool loopback)
    {
        Assert.True(ListenAddress.TryParse(text, out var a, out var error), error);
        Assert.Equal(host, a.Host);
        Assert.Equal(port, a.Port);
        Assert.Equal(loopback, a.IsLoopback);
        Assert.Equal(text, a.ToString());
    }

    [Theory]
    [InlineData("", "listen address is empty")]
    [InlineData("1080", "'1080' has no port (use host:port, e.g. 127.0.0.1:1080)")]
    [InlineData(":1080", "':1080' has no host (use 0.0.0.0:1080 for every interface or 127.0.0.1:1080 for this machine)")]
    [InlineData("::1:1080", "'::1:1080' has an IPv6 address without brackets (use e.g. [::1]:1080)")]
    [InlineData("[::1]1080", "'[::1]1080' is not [ipv6]:port")]
    [InlineData("[nope]:1080", "'nope' in '[nope]:1080' is not an IPv6 address")]
    [InlineData("127.0.0.1:65536", "'127.0.0.1:65536' has an invalid port (must be 0-65535)")]
    [InlineData("127.0.0.1:socks", "'127.0.0.1:socks' has an invalid port (must be 0-65535)")]
    public void Rejects(string text, string expected)
    {
        Assert.False(ListenAddress.TryParse(text, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Redacts_url_passwords_only()
    {
        Assert.Equal("redis://u:*****@h:6379", Secrets.RedactUrl("redis://u:p@h:6379"));
        Assert.Equal("redis://h:6379", Secrets.RedactUrl("redis://h:6379"));
        Assert.Equal("redis://u@h:6379", Secrets.RedactUrl("redis://u@h:6379"));
        Assert.Equal("localhost:6379", Secrets.RedactUrl("localhost:6379"));
        Assert.Null(Secrets.RedactUrl(null));
        Assert.Null(Secrets.Mask(null));
        Assert.Equal("*****", Secrets.Mask("x"));
    }
}
