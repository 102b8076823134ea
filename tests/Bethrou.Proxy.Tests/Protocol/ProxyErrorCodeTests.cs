using Bethrou.Proxy.Protocol;

namespace Bethrou.Proxy.Tests.Protocol;

public sealed class ProxyErrorCodeTests
{
    [Theory]
    [InlineData("General", 0x01)]
    [InlineData("NotAllowed", 0x02)]
    [InlineData("NetworkUnreachable", 0x03)]
    [InlineData("HostUnreachable", 0x04)]
    [InlineData("ConnectionRefused", 0x05)]
    [InlineData("Timeout", 0x06)]
    [InlineData("Limit", 0x01)]
    public void Maps_codes_to_socks_replies(string codeName, byte reply)
    {
        var code = Enum.Parse<ProxyErrorCode>(codeName);
        Assert.Equal(reply, code.ToSocksReply());
    }

    [Theory]
    [InlineData("general", "General")]
    [InlineData("not_allowed", "NotAllowed")]
    [InlineData("network_unreachable", "NetworkUnreachable")]
    [InlineData("host_unreachable", "HostUnreachable")]
    [InlineData("connection_refused", "ConnectionRefused")]
    [InlineData("timeout", "Timeout")]
    [InlineData("limit", "Limit")]
    public void Wire_names_round_trip(string name, string codeName)
    {
        var code = Enum.Parse<ProxyErrorCode>(codeName);
        Assert.Equal(name, code.ToWireName());
        Assert.True(ProxyErrorCodes.TryParseWireName(name, out var parsed));
        Assert.Equal(code, parsed);
    }

    [Fact]
    public void Code_field_wins_over_message_text()
    {
        Assert.Equal(ProxyErrorCode.Limit, ProxyErrorCodes.Classify("limit", "connection refused"));
    }

    [Fact]
    public void Unknown_code_falls_back_to_text()
    {
        Assert.False(ProxyErrorCodes.TryParseWireName("quota_exceeded", out _));
        Assert.Equal(ProxyErrorCode.ConnectionRefused, ProxyErrorCodes.Classify("quota_exceeded", "connect: connection refused"));
        Assert.Equal(ProxyErrorCode.General, ProxyErrorCodes.Classify("Timeout", "weird"));
    }

    [Theory]
    [InlineData("dial tcp 1.2.3.4:443: connect: connection refused", 0x05)]
    [InlineData("dial tcp: lookup nowhere.example: no such host", 0x04)]
    [InlineData("dial tcp 1.2.3.4:443: i/o timeout", 0x06)]
    [InlineData("dial tcp 1.2.3.4:443: connect: connection timed out", 0x06)]
    [InlineData("dial tcp [2001:db8::1]:443: connect: network is unreachable", 0x03)]
    [InlineData("dial tcp 10.9.9.9:443: connect: no route to host", 0x04)]
    [InlineData("destination \"localhost\" is loopback and blocked by policy", 0x02)]
    [InlineData("destination \"x\" resolved to private address 10.0.0.5", 0x02)]
    [InlineData("peer 12D3KooWabc is not authorized to use this exit node", 0x02)]
    [InlineData("destination port 25 is not allowed by this exit node", 0x02)]
    [InlineData("node is at maximum concurrent stream capacity", 0x01)]
    [InlineData("peer 12D3KooWabc exceeded concurrent stream limit", 0x01)]
    [InlineData("something else entirely", 0x01)]
    [InlineData("", 0x01)]
    [InlineData(null, 0x01)]
    public void Maps_go_messages_without_code(string? message, byte reply)
    {
        Assert.Equal(reply, ProxyErrorCodes.Classify(null, message).ToSocksReply());
    }

    [Fact]
    public void Policy_text_wins_even_when_a_host_name_contains_refused()
    {
        Assert.Equal(ProxyErrorCode.NotAllowed,
            ProxyErrorCodes.ClassifyMessage("destination \"refused.example\" resolved to private address 10.0.0.5"));
    }
}
