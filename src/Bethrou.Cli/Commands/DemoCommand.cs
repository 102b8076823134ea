using System.CommandLine;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Config;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Node;
using Bethrou.Proxy.Socks5;

namespace Bethrou.Cli.Commands;

/// <summary>`bethrou demo`: an exit node and a client in one process, keys generated in the state directory on first use.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var demo = new Command("demo", "Run an exit node and a SOCKS5 client in one process (keys are created in the state directory on first use).");
        var listen = new Option<string?>("--listen") { Description = "SOCKS5 listen address (default 127.0.0.1:1080)." };
        var allowPrivate = new Option<bool>("--allow-private") { Description = "Let the exit reach loopback and private networks (off by default)." };
        var logLevel = new Option<string?>("--log-level") { Description = "trace, debug, info, warn or error.", DefaultValueFactory = _ => "info" };
        demo.Add(listen);
        demo.Add(allowPrivate);
        demo.Add(logLevel);
        demo.SetAction(async (r, ct) =>
        {
            var state = StatePaths.StateDirectory();
            Directory.CreateDirectory(state);
            var pskPath = Path.Combine(state, "network.key");
            PreSharedKey psk;
            Ed25519PrivateKey nodeId;
            Ed25519PrivateKey clientId;
            try
            {
                if (!File.Exists(pskPath))
                {
                    IdentityFile.WriteNew(pskPath, PreSharedKey.Generate().ToFileBytes());
                    await Console.Error.WriteLineAsync($"bethrou: created private network key {pskPath}").ConfigureAwait(false);
                }
                psk = PreSharedKey.Load(pskPath);
                nodeId = IdentityFile.LoadOrCreate(Path.Combine(state, "node.key"), out _);
                clientId = IdentityFile.LoadOrCreate(Path.Combine(state, "client.key"), out _);
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            var listenText = r.GetValue(listen) ?? ClientConfig.DefaultListen;
            using var loggerFactory = Logging.Create(r.GetValue(logLevel) ?? "info", "text");
            var hostOptions = new Libp2pHostOptions { Identity = nodeId, Psk = psk };
            hostOptions.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
            await using var node = new ExitNode(new Libp2pHost(hostOptions, loggerFactory), new ExitOptions { AllowPrivate = r.GetValue(allowPrivate) }, loggerFactory);
            await node.Host.StartAsync(ct).ConfigureAwait(false);
            var exitAddr = node.Host.ListenAddresses[0].WithPeerId(node.Host.LocalPeer).ToString();
            ClientConfig cfg;
            try
            {
                cfg = ClientConfigLoader.Load(null, new Dictionary<string, string>(), new ClientOverrides
                {
                    KeyPath = pskPath,
                    Nodes = [exitAddr],
                    Listen = listenText,
                }, NodeCommand.ValidateMultiaddr);
            }
            catch (ConfigException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            ProxyClient client;
            try
            {
                client = await ProxyClient.StartAsync(cfg, psk, clientId, loggerFactory).ConfigureAwait(false);
            }
            catch (Socks5ListenException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            await client.Pool.WaitForHealthyAsync(1, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            var socks = ClientCommand.FormatEndPoint(client.SocksEndPoint);
            Console.WriteLine($"Exit node:   {exitAddr}");
            Console.WriteLine($"SOCKS5 proxy: {socks} (state in {state})");
            Console.WriteLine($"Try:         curl --socks5-hostname {socks} https://example.com/");
            Console.WriteLine("Press Ctrl+C to stop.");
            Console.Out.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            await client.StopAsync(ClientCommand.DrainTimeout).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return demo;
    }
}
