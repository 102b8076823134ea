namespace Bethrou.Bench.Socks;

internal static class Program
{
    private const string Usage = """
        usage: socksload <command> [--option value ...]
          origin     [--listen 127.0.0.1:0]                       HTTP/1.1 origin: GET /bytes/<n>, POST /upload
          freeport   [--count 1]                                  print free loopback TCP ports
          bulk       --socks ip:port --target host:port --bytes N [--repeat 1] [--warmup-bytes N] [--client-pids a,b] [--exit-pids c] [--clk-tck 100]
          latency    --socks ip:port --target host:port [--iter 1000] [--warmup 100] [--path /bytes/16] [--samples-out file]
          concurrent --socks ip:port --target host:port [--conns 1000] [--bytes 1048576] [--exit-pids c] [--client-pids a] [--timeout-s 120]
          stats      --file samples.txt                           percentiles of samples written by latency --samples-out
          probe      --socks ip:port --target host:port [--timeout-s 30]   retry a tiny GET until the path works
          delay      --target ip:port --delay-ms N [--listen 127.0.0.1:0]  TCP forwarder adding N ms each way (a long link)
          floor-local  --listen ip:port [--server ip:port]        minimal .NET SOCKS5 front (plain TCP to floor-server, or direct)
          floor-server --listen ip:port                           minimal .NET exit for floor-local (the .NET floor, bench/socks/README.md)
          epoll-local / epoll-server                              the same two without System.Net.Sockets (own epoll loop, Linux)
        `--socks direct` skips the proxy (baseline of origin + load tool alone; target must be an IPv4 literal).
        Measurements print one `RESULT key=value ...` line on stdout.
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            await Console.Error.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }
        try
        {
            var a = new Args(args, 1);
            return args[0] switch
            {
                "origin" => await Origin.RunAsync(a).ConfigureAwait(false),
                "freeport" => FreePorts.Run(a),
                "bulk" => await Measure.BulkAsync(a).ConfigureAwait(false),
                "latency" => await Measure.LatencyAsync(a).ConfigureAwait(false),
                "concurrent" => await Measure.ConcurrentAsync(a).ConfigureAwait(false),
                "probe" => await Measure.ProbeAsync(a).ConfigureAwait(false),
                "stats" => Measure.Stats(a),
                "delay" => await DelayForwarder.RunAsync(a).ConfigureAwait(false),
                "floor-local" => await FloorRelay.LocalAsync(a).ConfigureAwait(false),
                "floor-server" => await FloorRelay.ServerAsync(a).ConfigureAwait(false),
                "epoll-local" => EpollFloorRelay.Run(a, local: true),
                "epoll-server" => EpollFloorRelay.Run(a, local: false),
                _ => throw new UsageException($"unknown command `{args[0]}`"),
            };
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"socksload: {e.Message}\n{Usage}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            var what = e is OperationCanceledException ? "timed out" : $"{e.GetType().Name}: {e.Message}";
            Console.WriteLine($"RESULT failed=\"{what.Replace('"', '\'')}\"");
            await Console.Error.WriteLineAsync($"socksload {args[0]}: {what}").ConfigureAwait(false);
            return 1;
        }
    }
}
