using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Discovery.Tests;

public class AddressFilterTests
{
    private static Multiaddress M(string s) => Multiaddress.Parse(s);

    [Fact]
    public void AnnounceAddresses_WinAsGiven_WithoutP2p()
    {
        using var key = Ed25519PrivateKey.Generate();
        var result = AddressFilter.ForAnnouncement(
            [M("/ip4/0.0.0.0/tcp/4000")],
            [M("/dns4/exit.example.com/tcp/4000").WithPeerId(key.PeerId), M("/ip4/10.1.2.3/tcp/4000"), M("/dns4/exit.example.com/tcp/4000")],
            includePrivate: false);
        Assert.Equal([M("/dns4/exit.example.com/tcp/4000"), M("/ip4/10.1.2.3/tcp/4000")], result);
    }

    [Fact]
    public void ListenAddresses_DropLoopbackPrivateLinkLocalCgnat()
    {
        var listen = new[]
        {
            M("/ip4/127.0.0.1/tcp/1"), M("/ip4/10.0.0.1/tcp/1"), M("/ip4/172.16.5.5/tcp/1"), M("/ip4/172.32.0.1/tcp/1"),
            M("/ip4/192.168.1.1/tcp/1"), M("/ip4/169.254.169.254/tcp/1"), M("/ip4/100.64.0.1/tcp/1"), M("/ip4/203.0.113.9/tcp/1"),
            M("/ip6/::1/tcp/1"), M("/ip6/fe80::1/tcp/1"), M("/ip6/fd00::1/tcp/1"), M("/ip6/2001:db8::1/tcp/1"),
            M("/dns4/node.example.org/tcp/1"),
        };
        Assert.Equal(
            [M("/ip4/172.32.0.1/tcp/1"), M("/ip4/203.0.113.9/tcp/1"), M("/ip6/2001:db8::1/tcp/1"), M("/dns4/node.example.org/tcp/1")],
            AddressFilter.ForAnnouncement(listen, null, includePrivate: false));
        Assert.Equal(listen.Length, AddressFilter.ForAnnouncement(listen, [], includePrivate: true).Count);
    }

    [Fact]
    public void Wildcard_IsExpandedToInterfaces_LoopbackOnlyWhenPrivateIsIncluded()
    {
        var withPrivate = AddressFilter.ForAnnouncement([M("/ip4/0.0.0.0/tcp/4100")], null, includePrivate: true);
        Assert.Contains(M("/ip4/127.0.0.1/tcp/4100"), withPrivate);
        Assert.DoesNotContain(M("/ip4/0.0.0.0/tcp/4100"), withPrivate);
        var publicOnly = AddressFilter.ForAnnouncement([M("/ip4/0.0.0.0/tcp/4100")], null, includePrivate: false);
        Assert.All(publicOnly, a => Assert.True(AddressFilter.IsPublic(a)));
        Assert.DoesNotContain(M("/ip4/127.0.0.1/tcp/4100"), publicOnly);
    }
}
