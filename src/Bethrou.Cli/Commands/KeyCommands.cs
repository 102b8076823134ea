using System.CommandLine;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Cli.Commands;

internal static class KeyCommands
{
    public static Command CreatePskCommand()
    {
        var psk = new Command("psk", "Private network key (PSK v1) files.");
        var generate = new Command("generate", "Write a new private network key (/key/swarm/psk/1.0.0/, base16), mode 0600.");
        var output = new Option<string>("--out", "-o") { Description = "File to write (refuses to overwrite).", DefaultValueFactory = _ => "network.key" };
        generate.Add(output);
        generate.SetAction(r =>
        {
            var path = r.GetValue(output)!;
            var key = PreSharedKey.Generate();
            try
            {
                IdentityFile.WriteNew(path, key.ToFileBytes());
            }
            catch (KeyFileException e)
            {
                Console.Error.WriteLine($"bethrou: {e.Message}");
                return ExitCodes.BadInput;
            }
            Console.WriteLine($"Wrote private network key to {path} (fingerprint {key.Fingerprint}). Share it only with your own peers.");
            return ExitCodes.Ok;
        });
        psk.Add(generate);
        var show = new Command("show", "Print the fingerprint of a private network key file.");
        var file = new Argument<string>("FILE");
        show.Add(file);
        show.SetAction(r =>
        {
            try
            {
                var key = PreSharedKey.Load(r.GetValue(file)!);
                Console.WriteLine(key.Fingerprint);
                return ExitCodes.Ok;
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"bethrou: {e.Message}");
                return ExitCodes.BadInput;
            }
        });
        psk.Add(show);
        return psk;
    }

    public static Command CreateIdentityCommand()
    {
        var identity = new Command("identity", "Ed25519 peer identity files (go-libp2p format).");
        var generate = new Command("generate", "Write a new Ed25519 identity (68-byte protobuf), mode 0600.");
        var output = new Option<string>("--out", "-o") { Description = "File to write (refuses to overwrite).", DefaultValueFactory = _ => "node.key" };
        generate.Add(output);
        generate.SetAction(r =>
        {
            var path = r.GetValue(output)!;
            using var key = Ed25519PrivateKey.Generate();
            try
            {
                IdentityFile.Write(path, key);
            }
            catch (KeyFileException e)
            {
                Console.Error.WriteLine($"bethrou: {e.Message}");
                return ExitCodes.BadInput;
            }
            Console.WriteLine(key.PeerId.ToString());
            Console.Error.WriteLine($"Wrote identity to {path}");
            return ExitCodes.Ok;
        });
        identity.Add(generate);

        var show = new Command("show", "Print the peer id of an identity file.");
        var file = new Argument<string>("FILE");
        show.Add(file);
        show.SetAction(r =>
        {
            try
            {
                using var key = IdentityFile.Load(r.GetValue(file)!);
                Console.WriteLine(key.PeerId.ToString());
                return ExitCodes.Ok;
            }
            catch (KeyFileException e)
            {
                Console.Error.WriteLine($"bethrou: {e.Message}");
                return ExitCodes.BadInput;
            }
        });
        identity.Add(show);
        return identity;
    }
}
