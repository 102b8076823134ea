using BenchmarkDotNet.Running;

namespace Bethrou.Benchmarks;

internal static class Program
{
    /// <summary>`stack [MiB] [rounds] [--no-js] [--two-processes] [--echo-only]` runs the end-to-end stack figures (`echo-server PSKFILE`
    /// is the other end of `--two-processes`), `discovery [nodes] [ttl-s] [heartbeat-s] [window-s]`
    /// the Redis discovery scale figures; anything else goes to BenchmarkDotNet.</summary>
    public static async Task<int> Main(string[] args)
    {
        // The end-to-end runs use the I/O scheduling the bethrou executable ships with (BETHROU_IO_SCHEDULING=threadpool
        // measures the other mode).
        if (Bethrou.Libp2p.Transport.IoScheduling.PreferInline() is { } schedulingError)
        {
            await Console.Error.WriteLineAsync(schedulingError);
            return 2;
        }
        if (args.Length > 0 && args[0] == "layers")
        {
            return await Stack.LayerBench.RunAsync(args[1..]);
        }
        if (args.Length > 0 && args[0] == "stack")
        {
            return await Stack.StackBench.RunAsync(args[1..]);
        }
        if (args.Length > 1 && args[0] == "echo-server")
        {
            return await Stack.StackBench.EchoServerAsync(args[1]);
        }
        if (args.Length > 0 && args[0] == "discovery")
        {
            return await Discovery.DiscoveryScaleBench.RunAsync(args[1..]);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
