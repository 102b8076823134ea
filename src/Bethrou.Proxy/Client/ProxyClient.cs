using System.Net;
using Bethrou.Discovery;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Routing;
using Bethrou.Proxy.Socks5;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Client;

/// <summary>The client: a libp2p host that only dials, an exit pool, and the SOCKS5 server in front.</summary>
internal sealed class ProxyClient : IAsyncDisposable
{
    private ProxyClient(Libp2pHost host, ExitPool pool, Socks5Server socks, RedisNodeDirectory? directory)
    {
        Host = host;
        Pool = pool;
        Socks = socks;
        Directory = directory;
    }

    /// <summary>The live view of discovered exits (null without discovery).</summary>
    public RedisNodeDirectory? Directory { get; }

    public Libp2pHost Host { get; }

    public ExitPool Pool { get; }

    public Socks5Server Socks { get; }

    public IPEndPoint SocksEndPoint => Socks.LocalEndPoint;

    /// <summary>Starts everything; exits are dialled concurrently in the background (one dead exit never blocks).</summary>
    /// <exception cref="Socks5ListenException">The SOCKS address cannot be bound or is refused by policy.</exception>
    public static async Task<ProxyClient> StartAsync(ClientConfig config, PreSharedKey psk, Ed25519PrivateKey identity,
        ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var hostOptions = new Libp2pHostOptions { Identity = identity, Psk = psk, DialTimeout = config.Routing.Timeout };
        var host = new Libp2pHost(hostOptions, loggerFactory, time);
        await host.StartAsync().ConfigureAwait(false);
        var pool = new ExitPool(host, new ExitPoolOptions
        {
            HealthInterval = config.Routing.Health,
            Timeout = config.Routing.Timeout,
            Strategy = config.Routing.Strategy,
        }, loggerFactory.CreateLogger("Bethrou.Client.Exits"), time);
        foreach (var n in config.Nodes)
        {
            var addrs = n.Addrs.Select(Multiaddress.Parse).ToList();
            if (n.Relay is not null)
            {
                addrs.Add(Multiaddress.Parse(n.Relay).Encapsulate("/p2p-circuit"));
            }
            pool.AddOrUpdate(n.Id, addrs, ExitSource.Static);
        }
        pool.Start();
        RedisNodeDirectory? directory = null;
        if (config.Discovery.Enabled)
        {
            directory = await StartDiscoveryAsync(config, pool, loggerFactory, time).ConfigureAwait(false);
        }
        var connector = new Libp2pTunnelConnector(host, pool, config.Routing.Timeout, loggerFactory.CreateLogger("Bethrou.Client.Tunnels"),
            fastOpen: config.Routing.FastOpen, timeProvider: time);
        var socksOptions = new Socks5ServerOptions
        {
            Listen = ResolveListen(config.Server.Listen),
            Username = config.Server.Auth ? config.Server.User : null,
            Password = config.Server.Auth ? config.Server.Pass : null,
            AllowInsecureBind = config.Server.AllowInsecureBind,
            HandshakeTimeout = config.Server.HandshakeTimeout,
            ConnectTimeout = config.Routing.Timeout * 3 + TimeSpan.FromSeconds(5),
        };
        var socks = new Socks5Server(socksOptions, connector, loggerFactory.CreateLogger<Socks5Server>(), time);
        try
        {
            socks.Start();
        }
        catch
        {
            if (directory is not null)
            {
                await directory.DisposeAsync().ConfigureAwait(false);
            }
            await pool.DisposeAsync().ConfigureAwait(false);
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new ProxyClient(host, pool, socks, directory);
    }

    /// <summary>Reads the live set of exits from Redis and follows joins and leaves; static exits stay.</summary>
    private static async Task<RedisNodeDirectory> StartDiscoveryAsync(ClientConfig config, ExitPool pool, ILoggerFactory loggerFactory, TimeProvider time)
    {
        var d = config.Discovery;
        var options = new RedisDiscoveryOptions
        {
            Address = d.Address ?? RedisDiscoveryOptions.DefaultAddress,
            User = d.User,
            Password = d.Pass,
            Topic = d.Topic ?? RedisDiscoveryOptions.DefaultTopic,
            Timeout = d.Timeout,
        };
        var directory = new RedisNodeDirectory(options, loggerFactory.CreateLogger("Bethrou.Discovery"), time);
        directory.Changed += change =>
        {
            var node = change.Node;
            if (change.Kind == NodeChangeKind.Left)
            {
                if (pool.TryGet(node.PeerId) is { Source: ExitSource.Discovery })
                {
                    pool.Remove(node.PeerId);
                }
                return;
            }
            if (node.Addresses.Count > 0)
            {
                pool.AddOrUpdate(node.PeerId, node.Addresses, pool.TryGet(node.PeerId)?.Source ?? ExitSource.Discovery);
            }
        };
        await directory.StartAsync().ConfigureAwait(false);
        foreach (var node in directory.Snapshot)
        {
            if (node.Addresses.Count > 0)
            {
                pool.AddOrUpdate(node.PeerId, node.Addresses, pool.TryGet(node.PeerId)?.Source ?? ExitSource.Discovery);
            }
        }
        return directory;
    }

    private static IPEndPoint ResolveListen(ListenAddress listen)
    {
        if (IPAddress.TryParse(listen.Host, out var ip))
        {
            return new IPEndPoint(ip, listen.Port);
        }
        if (string.Equals(listen.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new IPEndPoint(IPAddress.Loopback, listen.Port);
        }
        var resolved = Dns.GetHostAddresses(listen.Host);
        return new IPEndPoint(resolved[0], listen.Port);
    }

    /// <summary>Stops accepting, lets open tunnels finish for up to <paramref name="drain"/>, then closes everything.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        await Socks.StopAsync(drain).ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await Socks.DisposeAsync().ConfigureAwait(false);
        if (Directory is not null)
        {
            await Directory.DisposeAsync().ConfigureAwait(false);
        }
        await Pool.DisposeAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
    }
}
