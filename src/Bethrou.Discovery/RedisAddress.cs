using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Bethrou.Discovery;

/// <summary>
/// Turns <see cref="RedisDiscoveryOptions.Address"/> into StackExchange.Redis <see cref="ConfigurationOptions"/>:
/// <c>redis://[user[:pass]@]host[:port][/db]</c>, <c>rediss://</c> (TLS), or anything StackExchange.Redis parses itself
/// (<c>host:port</c>, lists of endpoints for a cluster, <c>serviceName=…</c> for Sentinel, <c>password=…</c>, …).
/// </summary>
internal static class RedisAddress
{
    public const string Redacted = "*****";
    public const int DefaultPort = 6379;

    public static bool TryParse(string address, out ConfigurationOptions options, out string error)
    {
        options = null!;
        error = "";
        var text = address.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            var name = text[..scheme].ToLowerInvariant();
            if (name is not ("redis" or "rediss"))
            {
                error = $"unsupported scheme '{name}://' (use redis:// or rediss://)";
                return false;
            }
            return TryParseUrl(text, name == "rediss", out options, out error);
        }
        try
        {
            options = ConfigurationOptions.Parse(text);
        }
        catch (ArgumentException e)
        {
            error = RedactConfigString(e.Message);
            return false;
        }
        if (options.EndPoints.Count == 0)
        {
            error = "no Redis endpoint in it";
            return false;
        }
        return true;
    }

    private static bool TryParseUrl(string text, bool tls, out ConfigurationOptions options, out string error)
    {
        options = null!;
        error = "";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = "not a valid URL (expected redis://[user[:password]@]host[:port][/db])";
            return false;
        }
        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            error = "URL query parameters and fragments are not supported (use a StackExchange.Redis configuration string for advanced options)";
            return false;
        }
        var port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
        var o = new ConfigurationOptions();
        o.EndPoints.Add(uri.IdnHost, port);
        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var db) || db > 10000)
            {
                error = $"database '{path}' is not a number";
                return false;
            }
            o.DefaultDatabase = db;
        }
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            var user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            var pass = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            if (colon < 0)
            {
                // Go's redis.ParseURL: "redis://secret@host" is a password-less user; we follow it.
                o.User = user.Length > 0 ? user : null;
            }
            else
            {
                o.User = user.Length > 0 ? user : null;
                o.Password = pass;
            }
        }
        if (tls)
        {
            o.Ssl = true;
            o.SslHost = uri.IdnHost;
        }
        options = o;
        return true;
    }

    /// <summary>Builds the StackExchange.Redis options for <paramref name="settings"/> (validated beforehand).</summary>
    public static ConfigurationOptions ToConfigurationOptions(RedisDiscoveryOptions settings, string clientName)
    {
        if (!TryParse(settings.Address, out var o, out var error))
        {
            throw new ArgumentException($"discovery address {Redact(settings.Address)}: {error}", nameof(settings));
        }
        if (settings.User is not null)
        {
            o.User = settings.User.Length > 0 ? settings.User : null;
        }
        if (settings.Password is not null)
        {
            o.Password = settings.Password.Length > 0 ? settings.Password : null;
        }
        if (settings.TlsCaFile is not null)
        {
            o.TrustIssuer(settings.TlsCaFile);
        }
        o.AbortOnConnectFail = false;
        o.BacklogPolicy = BacklogPolicy.FailFast;
        o.ConnectTimeout = (int)settings.ConnectTimeout.TotalMilliseconds;
        o.AsyncTimeout = Math.Max(o.AsyncTimeout, (int)settings.ConnectTimeout.TotalMilliseconds);
        o.ConnectRetry = 1;
        o.ReconnectRetryPolicy = new ExponentialRetry(250, 5000);
        o.ClientName ??= clientName;
        return o;
    }

    /// <summary>The endpoints only (no credentials), for logs.</summary>
    public static string DescribeEndpoints(ConfigurationOptions o)
    {
        var sb = new StringBuilder();
        foreach (var ep in o.EndPoints)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }
            sb.Append(ep switch
            {
                System.Net.DnsEndPoint d => d.Host + ":" + d.Port.ToString(CultureInfo.InvariantCulture),
                _ => ep.ToString(),
            });
        }
        if (o.ServiceName is not null)
        {
            sb.Append(" (sentinel service ").Append(o.ServiceName).Append(')');
        }
        if (o.Ssl)
        {
            sb.Append(" (tls)");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The address with secrets masked: <c>redis://user:secret@host</c> → <c>redis://user:*****@host</c>,
    /// <c>h:6379,password=secret</c> → <c>h:6379,password=*****</c>.
    /// </summary>
    public static string Redact(string? address)
    {
        if (address is null)
        {
            return "";
        }
        var scheme = address.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0)
        {
            return RedactConfigString(address);
        }
        var hostStart = scheme + 3;
        // The last '@' ends the user info even when a password holds an unescaped '/', '@' or ':'.
        var at = address.LastIndexOf('@');
        if (at < hostStart)
        {
            return address;
        }
        var userInfo = address[hostStart..at];
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? address
            : string.Concat(address.AsSpan(0, hostStart), userInfo.AsSpan(0, colon + 1), Redacted, address.AsSpan(at));
    }

    private static string RedactConfigString(string text)
    {
        var parts = text.Split(',');
        for (var i = 0; i < parts.Length; i++)
        {
            var eq = parts[i].IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                var key = parts[i][..eq].Trim();
                if (key.Equals("password", StringComparison.OrdinalIgnoreCase) ||
                    key.Contains("pass", StringComparison.OrdinalIgnoreCase))
                {
                    parts[i] = parts[i][..(eq + 1)] + Redacted;
                }
            }
        }
        return string.Join(',', parts);
    }
}
