using System.Globalization;
using System.Net;
using System.Text;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Options;

namespace Bethrou.Proxy.Socks5;

/// <summary>Settings of a <see cref="Socks5Server"/>. Checked by <see cref="Validate"/> (all errors at once).</summary>
public sealed class Socks5ServerOptions
{
    /// <summary>Where to listen. Default 127.0.0.1:1080; port 0 picks a free port (see <see cref="Socks5Server.LocalEndPoint"/>).
    /// An IPv6 address such as [::1] works; [::] also accepts IPv4.</summary>
    public IPEndPoint Listen { get; set; } = new(IPAddress.Loopback, 1080);

    /// <summary>RFC 1929 username (1..255 UTF-8 bytes). When set together with <see cref="Password"/>, clients must
    /// authenticate with method 0x02; otherwise only method 0x00 (no authentication) is offered.</summary>
    public string? Username { get; set; }

    /// <summary>RFC 1929 password (1..255 UTF-8 bytes). Never logged; <see cref="ToString"/> redacts it.</summary>
    public string? Password { get; set; }

    /// <summary>Allow listening on a non-loopback address without authentication (anyone who can reach the port
    /// could use the proxy). Default false: such a configuration is refused.</summary>
    public bool AllowInsecureBind { get; set; }

    /// <summary>Greeting, authentication and request must all arrive within this time. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound on <see cref="ITunnelConnector.ConnectAsync"/>; when it expires the client gets 0x04 (host
    /// unreachable). Default 30 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connections (handshaking or tunnelling) served at once. A connection accepted beyond it is closed at
    /// once without a reply (a client that already sent its greeting may see a reset): answering SOCKS would mean
    /// reading greetings from an unbounded number of excess clients. Default 1024.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Listen backlog. Default 512.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Buffering of client connections; null for the defaults.</summary>
    public SocketDuplexPipeOptions? SocketOptions { get; set; }

    /// <summary>True when username/password authentication is configured.</summary>
    public bool RequiresAuthentication => Username is not null || Password is not null;

    /// <summary>Every configuration error (empty when valid), each naming the setting and the problem.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Listen is null)
        {
            errors.Add("Listen: an endpoint is required.");
        }
        if (Username is not null || Password is not null)
        {
            CheckCredential(errors, nameof(Username), Username);
            CheckCredential(errors, nameof(Password), Password);
        }
        if (Listen is not null && !IPAddress.IsLoopback(Listen.Address) && !RequiresAuthentication && !AllowInsecureBind)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture,
                $"Listen: refusing to serve SOCKS5 without authentication on non-loopback address {Listen}: anyone who can reach it could use the proxy. Set Username and Password, listen on 127.0.0.1 or [::1], or set AllowInsecureBind."));
        }
        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"HandshakeTimeout: must be positive (is {HandshakeTimeout})."));
        }
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"ConnectTimeout: must be positive (is {ConnectTimeout})."));
        }
        if (MaxConnections < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"MaxConnections: must be at least 1 (is {MaxConnections})."));
        }
        if (ListenBacklog < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"ListenBacklog: must be at least 1 (is {ListenBacklog})."));
        }
        if (SocketOptions is not null)
        {
            try
            {
                SocketOptions.Validate();
            }
            catch (ArgumentException ex)
            {
                errors.Add("SocketOptions: " + ex.Message);
            }
        }
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every error.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(nameof(Socks5ServerOptions), typeof(Socks5ServerOptions), errors);
        }
    }

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture,
            $"Listen={Listen}, Username={(Username is null ? "(none)" : Username)}, Password={(Password is null ? "(none)" : "*****")}, AllowInsecureBind={AllowInsecureBind}, HandshakeTimeout={HandshakeTimeout}, ConnectTimeout={ConnectTimeout}, MaxConnections={MaxConnections}");

    private static void CheckCredential(List<string> errors, string name, string? value)
    {
        if (value is null)
        {
            errors.Add($"{name}: required when {(name == nameof(Username) ? nameof(Password) : nameof(Username))} is set (RFC 1929 needs both).");
            return;
        }
        var length = Encoding.UTF8.GetByteCount(value);
        if (length is < 1 or > 255)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: must be 1..255 UTF-8 bytes (is {length})."));
        }
    }
}

/// <summary><see cref="IValidateOptions{TOptions}"/> for <see cref="Socks5ServerOptions"/> (for <c>ValidateOnStart</c>).</summary>
public sealed class Socks5ServerOptionsValidator : IValidateOptions<Socks5ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, Socks5ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
