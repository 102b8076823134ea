using System.CommandLine;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Microsoft.Extensions.Logging;

namespace Bethrou.Cli.Commands;

/// <summary>`bethrou node` (alias `start`): a libp2p node that listens and prints its full multiaddrs.</summary>
internal static class NodeCommand
{
    public static IEnumerable<Command> Create()
    {
        var node = new Command("node", "Run a node: listen on libp2p and print the full multiaddrs to dial it.");
        node.Aliases.Add("start");
        var listen = new Option<string[]>("--listen") { Description = "Listen multiaddr (repeatable).", DefaultValueFactory = _ => ["/ip4/0.0.0.0/tcp/4000"], AllowMultipleArgumentsPerToken = false };
        var key = new Option<string?>("--key") { Description = "Private network key file (default: network.key, ../network.key, ../../network.key)." };
        var identity = new Option<string?>("--identity") { Description = "Identity key file (created 0600 if missing; default: node.key in the state directory)." };
        node.Add(listen);
        node.Add(key);
        node.Add(identity);
        node.SetAction(async (r, ct) =>
        {
            var errors = new List<string>();
            var listenAddrs = new List<Multiaddress>();
            foreach (var l in r.GetValue(listen) ?? [])
            {
                if (Multiaddress.TryParse(l, out var ma, out var err))
                {
                    listenAddrs.Add(ma);
                }
                else
                {
                    errors.Add($"--listen: {err}");
                }
            }
            PreSharedKey? psk = null;
            try
            {
                psk = PreSharedKey.Load(StatePaths.FindPskFile(r.GetValue(key)));
            }
            catch (IOException e)
            {
                errors.Add(e.Message);
            }
            Ed25519PrivateKey? id = null;
            try
            {
                id = IdentityFile.LoadOrCreate(r.GetValue(identity) ?? StatePaths.DefaultIdentity(), out _);
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
            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            var options = new Libp2pHostOptions { Identity = id, Psk = psk };
            foreach (var a in listenAddrs)
            {
                options.ListenAddresses.Add(a);
            }
            await using var host = new Libp2pHost(options, loggerFactory);
            try
            {
                await host.StartAsync(ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"bethrou: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            Console.WriteLine($"Peer ID: {host.LocalPeer}");
            foreach (var a in host.AdvertisedAddresses())
            {
                Console.WriteLine(a.WithPeerId(host.LocalPeer));
            }
            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            return ExitCodes.Ok;
        });
        yield return node;
    }
}

/// <summary>Where Bethrou keeps its files: $BETHROU_STATE_DIR, else $XDG_STATE_HOME/bethrou, else ~/.local/state/bethrou.</summary>
internal static class StatePaths
{
    public static string StateDirectory()
    {
        var env = Environment.GetEnvironmentVariable("BETHROU_STATE_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var baseDir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(baseDir, "bethrou");
    }

    public static string DefaultIdentity() => Path.Combine(StateDirectory(), "node.key");

    /// <summary>The PSK path: the given one, else the Go lookup (network.key, ../network.key, ../../network.key).</summary>
    public static string FindPskFile(string? given)
    {
        if (!string.IsNullOrEmpty(given))
        {
            return given;
        }
        foreach (var c in new[] { "network.key", Path.Combine("..", "network.key"), Path.Combine("..", "..", "network.key") })
        {
            if (File.Exists(c))
            {
                return c;
            }
        }
        return "network.key";
    }
}
