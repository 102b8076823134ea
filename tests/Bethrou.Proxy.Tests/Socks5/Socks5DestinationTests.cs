using System.Net;
using Bethrou.Proxy.Socks5;

namespace Bethrou.Proxy.Tests.Socks5;

public class Socks5DestinationTests
{
    [Theory]
    [InlineData("1.2.3.4", 443, "1.2.3.4:443")]
    [InlineData("0.0.0.0", 0, "0.0.0.0:0")]
    [InlineData("255.255.255.255", 65535, "255.255.255.255:65535")]
    [InlineData("2001:db8::1", 443, "[2001:db8::1]:443")]
    [InlineData("::1", 80, "[::1]:80")]
    [InlineData("::", 80, "[::]:80")]
    [InlineData("2001:DB8:0:0:1:0:0:1", 1, "[2001:db8::1:0:0:1]:1")] // first of two equal runs
    [InlineData("2001:0:0:1:0:0:0:1", 1, "[2001:0:0:1::1]:1")]       // the longest run
    [InlineData("1:0:1:1:1:1:1:1", 1, "[1:0:1:1:1:1:1:1]:1")]        // a single zero group is not compressed
    [InlineData("1::", 1, "[1::]:1")]
    [InlineData("fe80::abcd:ef01", 22, "[fe80::abcd:ef01]:22")]
    [InlineData("::ffff:1.2.3.4", 443, "1.2.3.4:443")]               // Go prints IPv4-mapped as IPv4
    [InlineData("::1.2.3.4", 443, "[::102:304]:443")]                // Go has no dotted tail otherwise
    public void Address_formats_like_go_JoinHostPort(string address, int port, string expected)
    {
        var destination = Socks5Destination.FromAddress(IPAddress.Parse(address), (ushort)port);
        Assert.Equal(expected, destination.ToHostPort());
        Assert.Equal(expected, destination.ToString());
    }

    [Theory]
    [InlineData("example.com", 443, "example.com:443")]
    [InlineData("localhost", 1, "localhost:1")]
    [InlineData("a:b", 1, "[a:b]:1")] // JoinHostPort brackets any host with a colon
    public void Domain_formats_like_go_JoinHostPort(string host, int port, string expected)
        => Assert.Equal(expected, Socks5Destination.FromDomain(host, (ushort)port).ToHostPort());

    [Fact]
    public void Domain_validation()
    {
        Assert.Equal("A SOCKS5 domain name must not be empty. (Parameter 'host')",
            Assert.Throws<ArgumentException>(() => Socks5Destination.FromDomain("", 1)).Message);
        Assert.Equal("A SOCKS5 domain name must not contain NUL. (Parameter 'host')",
            Assert.Throws<ArgumentException>(() => Socks5Destination.FromDomain("a\0b", 1)).Message);
        Assert.Equal("A SOCKS5 domain name is at most 255 bytes; this one is 256 bytes. (Parameter 'host')",
            Assert.Throws<ArgumentException>(() => Socks5Destination.FromDomain(new string('a', 256), 1)).Message);
        Assert.Equal(255, Socks5Destination.FromDomain(new string('a', 255), 1).Host!.Length);
    }

    [Fact]
    public void Equality_is_by_value()
    {
        Assert.Equal(Socks5Destination.FromAddress(IPAddress.Parse("1.2.3.4"), 5), Socks5Destination.FromAddress(IPAddress.Parse("1.2.3.4"), 5));
        Assert.Equal(Socks5Destination.FromDomain("x", 5), Socks5Destination.FromDomain("x", 5));
        Assert.NotEqual(Socks5Destination.FromDomain("x", 5), Socks5Destination.FromDomain("x", 6));
    }

    [Fact]
    public void Address_type_follows_the_family()
    {
        Assert.Equal(Socks5AddressType.IPv4, Socks5Destination.FromAddress(IPAddress.Loopback, 1).AddressType);
        Assert.Equal(Socks5AddressType.IPv6, Socks5Destination.FromAddress(IPAddress.IPv6Loopback, 1).AddressType);
        Assert.Equal(Socks5AddressType.DomainName, Socks5Destination.FromDomain("x", 1).AddressType);
    }
}
