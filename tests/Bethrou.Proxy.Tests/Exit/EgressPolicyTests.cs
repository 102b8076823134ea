using System.Net;
using Bethrou.Libp2p.Crypto;
using Bethrou.Proxy.Exit;

namespace Bethrou.Proxy.Tests.Exit;

public sealed class EgressPolicyTests
{
    [Theory]
    // 0.0.0.0/8
    [InlineData("0.0.0.0", "ThisNetwork")]
    [InlineData("0.255.255.255", "ThisNetwork")]
    [InlineData("1.0.0.0", "Public")]
    // 10/8
    [InlineData("9.255.255.255", "Public")]
    [InlineData("10.0.0.0", "Private")]
    [InlineData("10.255.255.255", "Private")]
    [InlineData("11.0.0.0", "Public")]
    // 100.64/10
    [InlineData("100.63.255.255", "Public")]
    [InlineData("100.64.0.0", "SharedAddressSpace")]
    [InlineData("100.127.255.255", "SharedAddressSpace")]
    [InlineData("100.128.0.0", "Public")]
    // 127/8
    [InlineData("126.255.255.255", "Public")]
    [InlineData("127.0.0.0", "Loopback")]
    [InlineData("127.0.0.1", "Loopback")]
    [InlineData("127.255.255.255", "Loopback")]
    [InlineData("128.0.0.0", "Public")]
    // 169.254/16
    [InlineData("169.253.255.255", "Public")]
    [InlineData("169.254.0.0", "LinkLocal")]
    [InlineData("169.254.169.254", "LinkLocal")]
    [InlineData("169.254.255.255", "LinkLocal")]
    [InlineData("169.255.0.0", "Public")]
    // 172.16/12
    [InlineData("172.15.255.255", "Public")]
    [InlineData("172.16.0.0", "Private")]
    [InlineData("172.31.255.255", "Private")]
    [InlineData("172.32.0.0", "Public")]
    // 192.168/16
    [InlineData("192.167.255.255", "Public")]
    [InlineData("192.168.0.0", "Private")]
    [InlineData("192.168.255.255", "Private")]
    [InlineData("192.169.0.0", "Public")]
    // 198.18/15
    [InlineData("198.17.255.255", "Public")]
    [InlineData("198.18.0.0", "Benchmarking")]
    [InlineData("198.19.255.255", "Benchmarking")]
    [InlineData("198.20.0.0", "Public")]
    // 224/4, 240/4, broadcast
    [InlineData("223.255.255.255", "Public")]
    [InlineData("224.0.0.0", "Multicast")]
    [InlineData("239.255.255.255", "Multicast")]
    [InlineData("240.0.0.0", "Reserved")]
    [InlineData("255.255.255.254", "Reserved")]
    [InlineData("255.255.255.255", "Broadcast")]
    [InlineData("8.8.8.8", "Public")]
    [InlineData("1.1.1.1", "Public")]
    // IPv6
    [InlineData("::", "Unspecified")]
    [InlineData("::1", "Loopback")]
    [InlineData("::2", "Ipv4Compatible")]
    [InlineData("::10.0.0.1", "Ipv4Compatible")]
    [InlineData("::ffff:127.0.0.1", "Loopback")]
    [InlineData("::ffff:10.1.2.3", "Private")]
    [InlineData("::ffff:169.254.169.254", "LinkLocal")]
    [InlineData("::ffff:8.8.8.8", "Public")]
    [InlineData("64:ff9b::10.0.0.1", "Private")]
    [InlineData("64:ff9b::127.0.0.1", "Loopback")]
    [InlineData("64:ff9b::8.8.8.8", "Public")]
    [InlineData("2002:7f00:1::1", "Loopback")]
    [InlineData("2002:a9fe:a9fe::1", "LinkLocal")]
    [InlineData("2002:808:808::1", "Public")]
    [InlineData("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "Public")]
    [InlineData("fc00::", "UniqueLocal")]
    [InlineData("fd12:3456::1", "UniqueLocal")]
    [InlineData("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "UniqueLocal")]
    [InlineData("fe00::", "Public")]
    [InlineData("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "Public")]
    [InlineData("fe80::", "LinkLocal")]
    [InlineData("fe80::1%1", "LinkLocal")]
    [InlineData("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "LinkLocal")]
    [InlineData("fec0::1", "SiteLocal")]
    [InlineData("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "SiteLocal")]
    [InlineData("ff00::", "Multicast")]
    [InlineData("ff02::1", "Multicast")]
    [InlineData("2606:4700:4700::1111", "Public")]
    [InlineData("2001:db8::1", "Public")]
    public void Classifies_and_refuses_every_non_public_range(string address, string expected)
    {
        var ip = IPAddress.Parse(address);
        var cls = AddressClassifier.Classify(ip);
        Assert.Equal(expected, cls.ToString());

        var strict = new EgressPolicy(allowPrivate: false);
        Assert.Equal(expected == "Public", strict.IsAddressAllowed(ip, out var seen));
        Assert.Equal(cls, seen);

        var open = new EgressPolicy(allowPrivate: true);
        Assert.True(open.IsAddressAllowed(ip, out _));
    }

    [Fact]
    public void Every_class_has_a_description()
    {
        foreach (var c in Enum.GetValues<AddressClass>())
        {
            Assert.EndsWith("address", AddressClassifier.Describe(c));
        }
        Assert.Equal("a loopback address", AddressClassifier.Describe(AddressClass.Loopback));
    }

    [Fact]
    public void Denied_ports_are_refused()
    {
        var policy = new EgressPolicy(allowPrivate: false, deniedPorts: [25, 465]);
        Assert.False(policy.IsPortAllowed(25));
        Assert.False(policy.IsPortAllowed(465));
        Assert.True(policy.IsPortAllowed(443));
    }

    [Fact]
    public void Peer_allowlist_null_means_everyone()
    {
        using var a = Ed25519PrivateKey.Generate();
        using var b = Ed25519PrivateKey.Generate();
        Assert.True(new EgressPolicy(false).IsPeerAllowed(a.PeerId));
        var only = new EgressPolicy(false, allowedPeers: [a.PeerId]);
        Assert.True(only.IsPeerAllowed(a.PeerId));
        Assert.False(only.IsPeerAllowed(b.PeerId));
        Assert.False(new EgressPolicy(false, allowedPeers: []).IsPeerAllowed(a.PeerId));
    }

    [Fact]
    public void Exit_options_report_every_error()
    {
        var options = new ExitOptions
        {
            MaxConcurrentStreams = 0,
            MaxConcurrentStreamsPerPeer = -1,
            DialTimeout = TimeSpan.Zero,
            RequestTimeout = TimeSpan.FromSeconds(-1),
            ConnectionAttemptDelay = TimeSpan.FromSeconds(3),
            DeniedPorts = [0, 25, 70000],
        };
        Assert.Equal(
        [
            "max concurrent streams must be at least 1 (got 0)",
            "max concurrent streams per peer must be at least 1 (got -1)",
            "dial timeout must be positive (got 00:00:00)",
            "request timeout must be positive (got -00:00:01)",
            "connection attempt delay must be between 10ms and 2s (got 00:00:03)",
            "denied port 0 is not a port number (1-65535)",
            "denied port 70000 is not a port number (1-65535)",
        ], options.Validate());
        Assert.Empty(new ExitOptions().Validate());
        Assert.Equal(
            ["max concurrent streams per peer (20) must not exceed max concurrent streams (10)"],
            new ExitOptions { MaxConcurrentStreams = 10, MaxConcurrentStreamsPerPeer = 20 }.Validate());

        var result = new ExitOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Equal(7, result.Failures!.Count());
    }
}
