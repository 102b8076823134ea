using System.Net;
using Bethrou.Proxy.Socks5;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bethrou.Proxy.Tests.Socks5;

public class Socks5ServerOptionsTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        var options = new Socks5ServerOptions();
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 1080), options.Listen);
        Assert.Equal(TimeSpan.FromSeconds(10), options.HandshakeTimeout);
        Assert.False(options.RequiresAuthentication);
        Assert.Empty(options.Validate());
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.0.2.10")]
    public void Non_loopback_bind_without_auth_is_refused(string address)
    {
        var options = new Socks5ServerOptions { Listen = new IPEndPoint(IPAddress.Parse(address), 1080) };
        var error = Assert.Single(options.Validate());
        Assert.Equal($"Listen: refusing to serve SOCKS5 without authentication on non-loopback address {options.Listen}: anyone who can reach it could use the proxy. Set Username and Password, listen on 127.0.0.1 or [::1], or set AllowInsecureBind.", error);
        var ex = Assert.Throws<OptionsValidationException>(
            () => new Socks5Server(options, new DirectTunnelConnector(), NullLogger<Socks5Server>.Instance));
        Assert.Contains(error, ex.Failures);

        Assert.Empty(new Socks5ServerOptions { Listen = options.Listen, AllowInsecureBind = true }.Validate());
        Assert.Empty(new Socks5ServerOptions { Listen = options.Listen, Username = "u", Password = "p" }.Validate());
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.1.2.3")]
    [InlineData("::1")]
    public void Loopback_without_auth_is_fine(string address)
        => Assert.Empty(new Socks5ServerOptions { Listen = new IPEndPoint(IPAddress.Parse(address), 0) }.Validate());

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var options = new Socks5ServerOptions
        {
            Username = "",
            HandshakeTimeout = TimeSpan.Zero,
            ConnectTimeout = TimeSpan.FromSeconds(-1),
            MaxConnections = 0,
            ListenBacklog = 0,
            SocketOptions = new SocketDuplexPipeOptions { ReceiveSize = 1 },
        };
        var errors = options.Validate();
        Assert.Equal(
        [
            "Username: must be 1..255 UTF-8 bytes (is 0).",
            "Password: required when Username is set (RFC 1929 needs both).",
            "HandshakeTimeout: must be positive (is 00:00:00).",
            "ConnectTimeout: must be positive (is -00:00:01).",
            "MaxConnections: must be at least 1 (is 0).",
            "ListenBacklog: must be at least 1 (is 0).",
            "SocketOptions: ReceiveSize must be at least 1024 bytes. (Parameter 'ReceiveSize')\nActual value was 1.",
        ], errors);
        var result = new Socks5ServerOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Equal(errors, result.Failures);
    }

    [Fact]
    public void Password_without_username_and_too_long_credentials()
    {
        Assert.Equal(["Username: required when Password is set (RFC 1929 needs both)."],
            new Socks5ServerOptions { Password = "p" }.Validate());
        Assert.Equal(["Password: must be 1..255 UTF-8 bytes (is 256)."],
            new Socks5ServerOptions { Username = "u", Password = new string('p', 256) }.Validate());
        Assert.Equal(["Username: must be 1..255 UTF-8 bytes (is 256)."],
            new Socks5ServerOptions { Username = new string('é', 128), Password = "p" }.Validate());
    }

    [Fact]
    public void ToString_redacts_the_password()
    {
        var text = new Socks5ServerOptions { Username = "alice", Password = "hunter2" }.ToString();
        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.Contains("Password=*****", text, StringComparison.Ordinal);
    }
}
