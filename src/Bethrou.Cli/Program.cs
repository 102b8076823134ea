using System.CommandLine;
using Bethrou.Cli.Commands;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Cli;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // Inline I/O scheduling (see IoScheduling) by default: .NET's inline socket completions must be on before the
        // first socket exists.
        if (IoScheduling.PreferInline() is { } schedulingError)
        {
            await Console.Error.WriteLineAsync($"bethrou: {schedulingError}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        var root = new RootCommand("Bethrou: a self-hosted peer-to-peer proxy network over private libp2p.");
        root.Add(KeyCommands.CreatePskCommand());
        root.Add(KeyCommands.CreateIdentityCommand());
        root.Add(NodeCommand.Create());
        root.Add(ClientCommand.Create());
        root.Add(DemoCommand.Create());
        var parse = root.Parse(args);
        // SIGINT/SIGTERM cancel the command's token; the process then waits for the command to finish (the client
        // drains open tunnels for up to ClientCommand.DrainTimeout) instead of being killed at once.
        var invocation = new InvocationConfiguration
        {
            EnableDefaultExceptionHandler = true,
            ProcessTerminationTimeout = ClientCommand.DrainTimeout + TimeSpan.FromSeconds(5),
        };
        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }
}

/// <summary>Exit codes used by every command.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int BadInput = 2;
}
