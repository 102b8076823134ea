using System.CommandLine;
using Bethrou.Discovery;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Protocols.Relay;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Node;

namespace Bethrou.Cli.Commands;

/// <summary>`bethrou node` (alias `start`): the exit node, flag-compatible with the Go node.</summary>
internal static class NodeCommand
{
    public static Command Create()
    {
        var node = new Command("node", "Run an exit node: serve /bethrou/proxy/1.0.0 inside the private network.");
        node.Aliases.Add("start");
        var config = new Option<string?>("--config") { Description = "Node config file (YAML)." };
        var listen = new Option<string[]>("--listen") { Description = "Listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/4000)." };
        var key = new Option<string?>("--key") { Description = "Private network key file (default: network.key, ../network.key, ../../network.key)." };
        var identity = new Option<string?>("--identity") { Description = "Identity key file, created 0600 if missing (default: node.key in the state directory)." };
        var announce = new Option<string[]>("--announce") { Description = "Address to advertise instead of the listen addresses (repeatable)." };
        var allowPrivate = new Option<bool?>("--allow-private") { Description = "Allow destinations in loopback, private and other internal ranges (labs and tests)." };
        var denyPort = new Option<int[]>("--deny-port") { Description = "Refuse this destination port (repeatable)." };
        var allowPeer = new Option<string[]>("--allow-peer") { Description = "Only serve this client peer id (repeatable; default: every peer holding the network key)." };
        var maxStreams = new Option<int?>("--max-streams") { Description = "Concurrent tunnels, all clients together (default 8192)." };
        var maxStreamsPerPeer = new Option<int?>("--max-streams-per-peer") { Description = "Concurrent tunnels per client (default 2048)." };
        var dialTimeout = new Option<string?>("--dial-timeout") { Description = "Destination connect timeout (Go duration, default 10s)." };
        var logLevel = new Option<string?>("--log-level") { Description = "trace, debug, info, warn or error." };
        var logFormat = new Option<string?>("--log-format") { Description = "text or json." };
        var relayMode = new Option<bool>("--relay-mode") { Description = "Also serve as a circuit relay (v2) for the network's peers (limits: relay.* in the config)." };
        var connectRelay = new Option<string[]>("--connect-relay") { Description = "Relay multiaddr ending in /p2p/<relay id>: keep a reservation there and listen through it (repeatable)." };
        var discover = new Option<bool>("--discover") { Description = "Announce this node through Redis discovery." };
        var discoverAddress = new Option<string?>("--discover-address") { Description = "Redis URL (redis://, rediss://)." };
        var discoverUser = new Option<string?>("--discover-user") { Description = "Redis user." };
        var discoverPass = new Option<string?>("--discover-pass") { Description = "Redis password." };
        var discoverTopic = new Option<string?>("--discover-topic") { Description = "Discovery topic (default bethrou-nodes)." };
        var discoverPrivate = new Option<bool>("--discover-private") { Description = "Also announce loopback and private addresses (labs and tests)." };
        foreach (var o in new Option[] { config, listen, key, identity, announce, allowPrivate, denyPort, allowPeer, maxStreams, maxStreamsPerPeer, dialTimeout, logLevel, logFormat, relayMode, connectRelay, discover, discoverAddress, discoverUser, discoverPass, discoverTopic, discoverPrivate })
        {
            node.Add(o);
        }
        node.SetAction(async (r, ct) =>
        {
            if (!r.GetValue(discover) && (r.GetValue(discoverAddress) is not null || r.GetValue(discoverUser) is not null
                || r.GetValue(discoverPass) is not null || r.GetValue(discoverTopic) is not null || r.GetValue(discoverPrivate)))
            {
                await Console.Error.WriteLineAsync("bethrou: --discover-address/--discover-user/--discover-pass/--discover-topic/--discover-private need --discover").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            RedisDiscoveryOptions? discovery = null;
            if (r.GetValue(discover))
            {
                discovery = new RedisDiscoveryOptions
                {
                    Address = r.GetValue(discoverAddress) ?? RedisDiscoveryOptions.DefaultAddress,
                    User = r.GetValue(discoverUser),
                    Password = r.GetValue(discoverPass),
                    Topic = r.GetValue(discoverTopic) ?? RedisDiscoveryOptions.DefaultTopic,
                    IncludePrivateAddresses = r.GetValue(discoverPrivate),
                };
                var problems = discovery.Validate();
                if (problems.Count > 0)
                {
                    foreach (var p in problems)
                    {
                        await Console.Error.WriteLineAsync($"bethrou: discovery: {p}").ConfigureAwait(false);
                    }
                    return ExitCodes.BadInput;
                }
            }
            var env = EnvironmentSnapshot();
            var keyFlag = r.GetValue(key);
            if (keyFlag is null && r.GetValue(config) is null && !env.ContainsKey(NodeConfigLoader.Env.Key) && !env.ContainsKey(NodeConfigLoader.Env.Config))
            {
                keyFlag = StatePaths.FindPskFile();
            }
            NodeConfig cfg;
            try
            {
                cfg = NodeConfigLoader.Load(r.GetValue(config), env, new NodeOverrides
                {
                    KeyPath = keyFlag,
                    IdentityPath = r.GetValue(identity),
                    Listen = r.GetValue(listen),
                    Announce = r.GetValue(announce),
                    AllowPrivate = r.GetValue(allowPrivate),
                    DeniedPorts = r.GetValue(denyPort),
                    AllowedPeers = r.GetValue(allowPeer),
                    MaxStreams = r.GetValue(maxStreams),
                    MaxStreamsPerPeer = r.GetValue(maxStreamsPerPeer),
                    DialTimeout = r.GetValue(dialTimeout),
                    LogLevel = r.GetValue(logLevel),
                    LogFormat = r.GetValue(logFormat),
                    RelayMode = r.GetValue(relayMode) ? true : null,
                    ConnectRelay = r.GetValue(connectRelay),
                }, ValidateMultiaddr);
            }
            catch (ConfigException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            return await RunAsync(cfg, discovery, ct).ConfigureAwait(false);
        });
        return node;
    }

    internal static string? ValidateMultiaddr(string text) =>
        Multiaddress.TryParse(text, out _, out var error) ? null : error;

    internal static Dictionary<string, string> EnvironmentSnapshot()
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string k && k.StartsWith("BETHROU_", StringComparison.Ordinal) && e.Value is string v)
            {
                d[k] = v;
            }
        }
        return d;
    }

    private static async Task<int> RunAsync(NodeConfig cfg, RedisDiscoveryOptions? discovery, CancellationToken ct)
    {
        var errors = new List<string>();
        PreSharedKey? psk = null;
        try
        {
            psk = PreSharedKey.Load(cfg.KeyPath);
        }
        catch (IOException e)
        {
            errors.Add(e.Message);
        }
        Ed25519PrivateKey? id = null;
        try
        {
            id = IdentityFile.LoadOrCreate(cfg.IdentityPath, out var created);
            if (created)
            {
                await Console.Error.WriteLineAsync($"bethrou: created identity {cfg.IdentityPath}").ConfigureAwait(false);
            }
        }
        catch (KeyFileException e)
        {
            errors.Add(e.Message);
        }
        if (errors.Count > 0)
        {
            foreach (var e in errors)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e}").ConfigureAwait(false);
            }
            return ExitCodes.BadInput;
        }
        using var loggerFactory = Logging.Create(cfg.Log.Level, cfg.Log.Format);
        var options = new Libp2pHostOptions { Identity = id, Psk = psk };
        foreach (var a in cfg.Listen)
        {
            options.ListenAddresses.Add(Multiaddress.Parse(a));
        }
        var host = new Libp2pHost(options, loggerFactory);
        foreach (var a in cfg.Announce)
        {
            host.AnnounceAddresses.Add(Multiaddress.Parse(a));
        }
        await using var node = new ExitNode(host, cfg.ToExitOptions(), loggerFactory);
        try
        {
            await host.StartAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        await using var relayService = cfg.Relay.Enabled
            ? new RelayService(host, cfg.Relay.ToServiceOptions(), loggerFactory.CreateLogger("Bethrou.Relay"))
            : null;
        relayService?.Start();
        PrintReady(host, cfg.KeyPath);
        await using var reservations = cfg.Relay.Connect.Count > 0
            ? new RelayReservationManager(host, cfg.Relay.Connect.Select(Multiaddress.Parse), logger: loggerFactory.CreateLogger("Bethrou.Relay"))
            : null;
        RedisNodeAnnouncer? announcer = null;
        if (reservations is not null)
        {
            // Each time a reservation is made (again), print our address through that relay like the others, and
            // announce it with discovery.
            reservations.Reserved += info =>
            {
                PrintLine(info.CircuitAddress.WithPeerId(host.LocalPeer).ToString());
                if (announcer is { } a && discovery is not null)
                {
                    host.Track(a.UpdateAddressesAsync(AnnouncedAddresses(host, discovery)), "announce relay address");
                }
            };
            reservations.Start();
        }
        if (discovery is not null)
        {
            var addrs = AnnouncedAddresses(host, discovery);
            announcer = new RedisNodeAnnouncer(discovery, id!, addrs, loggerFactory.CreateLogger("Bethrou.Discovery"));
            try
            {
                await announcer.StartAsync(ct).ConfigureAwait(false);
                await Console.Error.WriteLineAsync($"bethrou: announcing {addrs.Count} address(es) on {discovery}").ConfigureAwait(false);
            }
            catch (RedisDiscoveryException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: discovery: {e.Message}").ConfigureAwait(false);
                await announcer.DisposeAsync().ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await Console.Error.WriteLineAsync("bethrou: shutting down").ConfigureAwait(false);
        if (announcer is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await announcer.StopAsync(stop.Token).ConfigureAwait(false);
            await announcer.DisposeAsync().ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    /// <summary>--announce addresses as given (plus relay circuit addresses); else the listen addresses without
    /// loopback and private ones unless --discover-private.</summary>
    private static IReadOnlyList<Multiaddress> AnnouncedAddresses(Libp2pHost host, RedisDiscoveryOptions discovery) =>
        host.AnnounceAddresses.Count > 0
            ? AddressFilter.ForAnnouncement([], host.AdvertisedAddresses(), discovery.IncludePrivateAddresses)
            : AddressFilter.ForAnnouncement(host.AdvertisedAddresses(), null, discovery.IncludePrivateAddresses);

    private static readonly Lock s_printLock = new();

    private static void PrintLine(string line)
    {
        lock (s_printLock)
        {
            Console.WriteLine(line);
            Console.Out.Flush();
        }
    }

    internal static void PrintReady(Libp2pHost host, string keyPath)
    {
        Console.WriteLine($"Peer ID: {host.LocalPeer}");
        var addrs = host.AdvertisedAddresses().Select(a => a.WithPeerId(host.LocalPeer).ToString()).ToList();
        foreach (var a in addrs)
        {
            Console.WriteLine(a);
        }
        if (addrs.Count > 0)
        {
            Console.WriteLine($"Client: bethrou client --key {keyPath} --node {addrs[0]}");
        }
        Console.Out.Flush();
    }
}
