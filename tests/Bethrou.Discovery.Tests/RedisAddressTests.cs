using System.Net;
using StackExchange.Redis;

namespace Bethrou.Discovery.Tests;

public class RedisAddressTests
{
    private static ConfigurationOptions Parse(string address)
    {
        Assert.True(RedisAddress.TryParse(address, out var o, out var err), err);
        return o;
    }

    private static (string Host, int Port) Endpoint(ConfigurationOptions o, int i = 0) => o.EndPoints[i] switch
    {
        DnsEndPoint d => (d.Host, d.Port),
        IPEndPoint ip => (ip.Address.ToString(), ip.Port),
        var e => throw new InvalidOperationException(e.ToString()),
    };

    [Fact]
    public void RedisUrl_DefaultsPortAndHasNoTls()
    {
        var o = Parse("redis://localhost");
        Assert.Equal(("localhost", 6379), Endpoint(o));
        Assert.False(o.Ssl);
        Assert.Null(o.User);
        Assert.Null(o.Password);
    }

    [Fact]
    public void RedisUrl_UserPasswordPortDatabase()
    {
        var o = Parse("redis://alice:s%40cr%3Aet@redis.example.com:6380/3");
        Assert.Equal(("redis.example.com", 6380), Endpoint(o));
        Assert.Equal("alice", o.User);
        Assert.Equal("s@cr:et", o.Password);
        Assert.Equal(3, o.DefaultDatabase);
    }

    [Fact]
    public void RedisUrl_PasswordOnly_AndUserOnly()
    {
        var o = Parse("redis://:secret@h:1");
        Assert.Null(o.User);
        Assert.Equal("secret", o.Password);
        var u = Parse("redis://bob@h:1");
        Assert.Equal("bob", u.User);
        Assert.Null(u.Password);
    }

    [Fact]
    public void RedissUrl_TurnsOnTlsWithTheHostName()
    {
        var o = Parse("rediss://user:pw@cache.example.net:6390");
        Assert.True(o.Ssl);
        Assert.Equal("cache.example.net", o.SslHost);
        Assert.Equal(("cache.example.net", 6390), Endpoint(o));
    }

    [Fact]
    public void Ipv6Url()
    {
        var o = Parse("redis://[::1]:6380");
        Assert.Equal(("::1", 6380), Endpoint(o));
    }

    [Fact]
    public void PlainHostPort_AsGoFallsBackTo()
    {
        Assert.Equal(("10.0.0.5", 6379), Endpoint(Parse("10.0.0.5:6379")));
        Assert.Equal(("redis", 7000), Endpoint(Parse("redis:7000")));
    }

    [Fact]
    public void SentinelAndClusterConfigStrings_PassThrough()
    {
        var sentinel = Parse("s1:26379,s2:26379,serviceName=mymaster,password=pw");
        Assert.Equal("mymaster", sentinel.ServiceName);
        Assert.Equal(2, sentinel.EndPoints.Count);
        Assert.Equal("pw", sentinel.Password);

        var cluster = Parse("n1:7000,n2:7001,n3:7002");
        Assert.Equal(3, cluster.EndPoints.Count);
        Assert.Equal(("n3", 7002), Endpoint(cluster, 2));
    }

    [Theory]
    [InlineData("http://localhost:6379", "unsupported scheme 'http://' (use redis:// or rediss://)")]
    [InlineData("redis://localhost:6379?dial_timeout=3s", "URL query parameters and fragments are not supported")]
    [InlineData("redis://localhost:6379/x", "database 'x' is not a number")]
    [InlineData("redis://", "not a valid URL")]
    [InlineData("h:1,nonsense=1", "Keyword 'nonsense' is not supported.")]
    public void Invalid_IsRejectedWithAReason(string address, string expected)
    {
        Assert.False(RedisAddress.TryParse(address, out _, out var err));
        Assert.StartsWith(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplicitUserAndPassword_OverrideTheUrl_AndResilienceSettingsAreOn()
    {
        var o = RedisAddress.ToConfigurationOptions(
            new RedisDiscoveryOptions { Address = "redis://u1:p1@h:1", User = "u2", Password = "p2" }, "bethrou-test");
        Assert.Equal("u2", o.User);
        Assert.Equal("p2", o.Password);
        Assert.False(o.AbortOnConnectFail);
        Assert.Same(BacklogPolicy.FailFast, o.BacklogPolicy);
        Assert.Equal("bethrou-test", o.ClientName);
    }

    [Theory]
    [InlineData("redis://alice:topsecret@h:6379/0", "redis://alice:*****@h:6379/0")]
    [InlineData("rediss://:topsecret@h", "rediss://:*****@h")]
    [InlineData("redis://alice:top/sec@ret@h:1", "redis://alice:*****@h:1")]
    [InlineData("redis://h:6379", "redis://h:6379")]
    [InlineData("redis://bob@h", "redis://bob@h")]
    [InlineData("s1:26379,serviceName=m,password=topsecret", "s1:26379,serviceName=m,password=*****")]
    [InlineData("h:1", "h:1")]
    public void Redact_HidesPasswordsOnly(string address, string expected)
    {
        Assert.Equal(expected, RedisAddress.Redact(address));
        Assert.DoesNotContain("topsecret", RedisAddress.Redact(address), StringComparison.Ordinal);
    }

    [Fact]
    public void OptionsToString_NeverShowsAPassword()
    {
        var text = new RedisDiscoveryOptions { Address = "redis://u:topsecret@h:1", User = "u", Password = "othersecret" }.ToString();
        Assert.DoesNotContain("topsecret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("othersecret", text, StringComparison.Ordinal);
        Assert.Contains("address=redis://u:*****@h:1", text, StringComparison.Ordinal);
        Assert.Contains("password=*****", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ListsEveryProblem()
    {
        var errors = new RedisDiscoveryOptions
        {
            Address = "ftp://u:topsecret@x",
            Topic = " ",
            Ttl = TimeSpan.FromMilliseconds(500),
            Heartbeat = TimeSpan.Zero,
            Timeout = TimeSpan.FromSeconds(40),
            GoRequeryInterval = TimeSpan.FromSeconds(30),
            CheckInterval = TimeSpan.FromMinutes(1),
            MaxMessageBytes = 10,
            TlsCaFile = "/nonexistent/ca.pem",
        }.Validate();
        Assert.Equal(
            [
                "discovery address ftp://u:*****@x: unsupported scheme 'ftp://' (use redis:// or rediss://)",
                "discovery topic is empty",
                "discovery ttl 500ms is below the minimum of 1s",
                "discovery heartbeat 0s must be positive",
                "discovery timeout 40s must not exceed the Go re-query interval 30s",
                "discovery check interval 60s must be between 10ms and 10s",
                "discovery max message size 10 is below the minimum of 1024 bytes",
                "discovery TLS CA file /nonexistent/ca.pem does not exist",
            ],
            errors);
        Assert.Empty(new RedisDiscoveryOptions().Validate());
        Assert.Contains(
            "discovery heartbeat 20s must be at most half the ttl 30s so that one lost refresh does not expire a live node",
            new RedisDiscoveryOptions { Heartbeat = TimeSpan.FromSeconds(20) }.Validate());
    }
}
