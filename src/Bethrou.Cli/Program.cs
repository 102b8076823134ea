using System.CommandLine;
using Bethrou.Cli.Commands;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Cli;

internal static class Program
{
    /// <summary>.NET's switch for running socket completions on the socket engine's threads (read once, at the first
    /// socket operation).</summary>
    internal const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> Main(string[] args)
    {
        if (IoScheduling.ConfigurationError is { } schedulingError)
        {
            await Console.Error.WriteLineAsync($"bethrou: {schedulingError}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        // Inline I/O scheduling (the default, see IoScheduling) pays off when the socket's completion also runs where
        // the socket became ready. Set before any socket exists; a value already in the environment is kept.
        if (IoScheduling.Inline && Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
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
