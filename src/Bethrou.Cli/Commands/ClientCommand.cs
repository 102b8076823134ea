using System.CommandLine;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Pnet;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Socks5;

namespace Bethrou.Cli.Commands;

/// <summary>`bethrou client` (alias `connect`): the local SOCKS5 proxy that tunnels through exit nodes.</summary>
internal static class ClientCommand
{
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var client = new Command("client", "Run the local SOCKS5 proxy that carries connections through your exit nodes.");
        client.Aliases.Add("connect");
        var config = new Option<string?>("--config") { Description = "client.yaml (Go Bethrou keys; every section optional)." };
        var key = new Option<string?>("--key") { Description = "Private network key file (overrides the config)." };
        var identity = new Option<string?>("--identity-key") { Description = "Client identity file (default: a new identity each run)." };
        var node = new Option<string[]>("--node") { Description = "Exit node multiaddr with /p2p/<id> (repeatable)." };
        var listen = new Option<string?>("--listen") { Description = "SOCKS5 listen address (default 127.0.0.1:1080; [::1]:1080 for IPv6)." };
        var strategy = new Option<string?>("--strategy") { Description = "random, round-robin, fastest or least-loaded." };
        var health = new Option<string?>("--health") { Description = "Health check interval (Go duration, default 30s)." };
        var timeout = new Option<string?>("--timeout") { Description = "Dial/connect timeout (Go duration, default 10s)." };
        var handshakeTimeout = new Option<string?>("--handshake-timeout")
        {
            Description = "Time a SOCKS client gets from connecting to a complete request; a stalled one is closed (Go duration, default 10s).",
        };
        var fastOpen = new Option<bool?>("--fast-open")
        {
            Description = "Answer CONNECT at once and send the first bytes with the request (one round trip to the exit fewer; " +
                "a refused destination then resets the connection instead of getting its SOCKS reply code).",
        };
        var user = new Option<string?>("--socks-user") { Description = "SOCKS5 username (enables RFC 1929 auth)." };
        var pass = new Option<string?>("--socks-pass") { Description = "SOCKS5 password." };
        var insecure = new Option<bool?>("--allow-insecure-bind") { Description = "Allow a non-loopback listen address without auth." };
        var logLevel = new Option<string?>("--log-level") { Description = "trace, debug, info, warn or error." };
        var logFormat = new Option<string?>("--log-format") { Description = "text or json." };
        foreach (var o in new Option[] { config, key, identity, node, listen, strategy, health, timeout, handshakeTimeout, fastOpen, user, pass, insecure, logLevel, logFormat })
        {
            client.Add(o);
        }
        client.SetAction(async (r, ct) =>
        {
            ClientConfig cfg;
            try
            {
                cfg = ClientConfigLoader.Load(r.GetValue(config), NodeCommand.EnvironmentSnapshot(), new ClientOverrides
                {
                    KeyPath = r.GetValue(key),
                    IdentityKeyPath = r.GetValue(identity),
                    Nodes = r.GetValue(node) is { Length: > 0 } n ? n : null,
                    Listen = r.GetValue(listen),
                    Strategy = r.GetValue(strategy),
                    Health = r.GetValue(health),
                    Timeout = r.GetValue(timeout),
                    HandshakeTimeout = r.GetValue(handshakeTimeout),
                    FastOpen = r.GetValue(fastOpen),
                    SocksUser = r.GetValue(user),
                    SocksPass = r.GetValue(pass),
                    AllowInsecureBind = r.GetValue(insecure),
                    LogLevel = r.GetValue(logLevel),
                    LogFormat = r.GetValue(logFormat),
                }, NodeCommand.ValidateMultiaddr);
            }
            catch (ConfigException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            return await RunAsync(cfg, ct).ConfigureAwait(false);
        });
        return client;
    }

    private static async Task<int> RunAsync(ClientConfig cfg, CancellationToken ct)
    {
        PreSharedKey psk;
        Ed25519PrivateKey identity;
        try
        {
            psk = PreSharedKey.Load(cfg.KeyPath);
            identity = cfg.IdentityKeyPath is null ? Ed25519PrivateKey.Generate() : IdentityFile.LoadOrCreate(cfg.IdentityKeyPath, out _);
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        using var loggerFactory = Logging.Create(cfg.Log.Level, cfg.Log.Format);
        ProxyClient client;
        try
        {
            client = await ProxyClient.StartAsync(cfg, psk, identity, loggerFactory).ConfigureAwait(false);
        }
        catch (Socks5ListenException e)
        {
            await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (Bethrou.Discovery.RedisDiscoveryException e)
        {
            await Console.Error.WriteLineAsync($"bethrou: discovery: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        var discovered = client.Directory is null ? "" : $", {client.Directory.Count} from discovery";
        Console.WriteLine($"SOCKS5 proxy listening on {FormatEndPoint(client.SocksEndPoint)} ({cfg.Nodes.Count} exit node(s){discovered}, strategy {cfg.Routing.Strategy})");
        Console.WriteLine($"Try: curl --socks5-hostname {FormatEndPoint(client.SocksEndPoint)} https://example.com/");
        Console.Out.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await Console.Error.WriteLineAsync($"bethrou: shutting down (open connections get up to {DrainTimeout.TotalSeconds:0} s)").ConfigureAwait(false);
        await client.StopAsync(DrainTimeout).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    internal static string FormatEndPoint(System.Net.IPEndPoint ep) =>
        ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]:{ep.Port}" : $"{ep.Address}:{ep.Port}";
}
