using Bethrou.Proxy.Protocol;

namespace Bethrou.Proxy.Tests.Protocol;

public sealed class ProxyAddressTests
{
    [Theory]
    [InlineData("example.com:443", "example.com", 443)]
    [InlineData("1.2.3.4:80", "1.2.3.4", 80)]
    [InlineData("[2001:db8::1]:443", "2001:db8::1", 443)]
    [InlineData("[fe80::1%eth0]:22", "fe80::1%eth0", 22)]
    [InlineData("a:65535", "a", 65535)]
    public void Parses_go_host_port(string address, string host, int port)
    {
        Assert.True(ProxyAddress.TryParse(address, out var h, out var p, out var error), error);
        Assert.Equal(host, h);
        Assert.Equal(port, p);
    }

    [Theory]
    [InlineData("", "destination address is empty")]
    [InlineData("example.com", "destination address 'example.com' is missing a port")]
    [InlineData("[::1]", "destination address '[::1]' is missing a port")]
    [InlineData("[::1:80", "destination address '[::1:80' is missing ']'")]
    [InlineData("2001:db8::1:443", "destination address '2001:db8::1:443' has too many colons (IPv6 literals need brackets)")]
    [InlineData(":80", "destination address ':80' has an empty host")]
    [InlineData("a:0", "destination address 'a:0' has an invalid port (must be 1-65535)")]
    [InlineData("a:65536", "destination address 'a:65536' has an invalid port (must be 1-65535)")]
    [InlineData("a:http", "destination address 'a:http' has an invalid port (must be 1-65535)")]
    [InlineData("a:-1", "destination address 'a:-1' has an invalid port (must be 1-65535)")]
    [InlineData("a:", "destination address 'a:' has an invalid port (must be 1-65535)")]
    public void Rejects_bad_addresses(string address, string expected)
    {
        Assert.False(ProxyAddress.TryParse(address, out _, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Formats_like_go_join_host_port()
    {
        Assert.Equal("example.com:443", ProxyAddress.Format("example.com", 443));
        Assert.Equal("[2001:db8::1]:443", ProxyAddress.Format("2001:db8::1", 443));
        Assert.Equal("[::1]:80", ProxyAddress.Format(System.Net.IPAddress.IPv6Loopback, 80));
    }
}
