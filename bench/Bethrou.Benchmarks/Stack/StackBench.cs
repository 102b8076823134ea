using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Benchmarks.Stack;

/// <summary>
/// End-to-end figures for the libp2p stack (not BenchmarkDotNet: these are whole-system runs):
/// echo throughput C#↔C# over TCP+pnet+Noise+Yamux, and memory for 1,000 idle streams on one connection.
/// </summary>
internal static class StackBench
{
    public const string EchoProtocol = "/bethrou/test/echo/1.0.0";

    public static async Task<int> RunAsync(string[] args)
    {
        var mib = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 256;
        var rounds = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        var psk = PreSharedKey.Generate();
        await using var server = await StartHostAsync(psk);
        await using var client = await StartHostAsync(psk, listen: false);
        var addr = server.ListenAddresses[0].WithPeerId(server.LocalPeer);
        var conn = await client.ConnectAsync(addr);
        await EchoRoundsAsync(client, conn, mib, rounds, "echo C#<->C#", "both ends", () => Process.GetCurrentProcess().TotalProcessorTime);
        await LatencyAsync(client, conn, 2000);
        await IdleStreamsAsync(client, conn, 1000);
        if (args.Contains("--two-processes"))
        {
            await TwoProcessEchoAsync(psk, client, mib, rounds);
        }
        if (!args.Contains("--no-js"))
        {
            await JsComparisonAsync(psk, client, mib);
        }
        return 0;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Bethrou.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repo root (Bethrou.slnx) not found");
    }

    /// <summary>C#→js echo on the js test peer's echo protocol, and js↔js with the js bench script, in the same run.</summary>
    private static async Task JsComparisonAsync(PreSharedKey psk, Libp2pHost client, int mib)
    {
        var root = RepoRoot();
        var js = Path.Combine(root, "interop", "js");
        if (!Directory.Exists(Path.Combine(js, "node_modules")))
        {
            Console.WriteLine("js comparison skipped: run scripts/setup-interop.sh first");
            return;
        }
        var dir = Directory.CreateTempSubdirectory("bethrou-bench-");
        var pskFile = Path.Combine(dir.FullName, "swarm.key");
        await File.WriteAllBytesAsync(pskFile, psk.ToFileBytes());
        var psi = new ProcessStartInfo("node", ["peer.mjs", "--psk", pskFile, "--no-connection-monitor"])
        {
            WorkingDirectory = js,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(psi)!;
        node.ErrorDataReceived += (_, _) => { };
        node.BeginErrorReadLine();
        try
        {
            string? addr = null;
            while (addr is null)
            {
                var line = await node.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("js peer exited");
                if (line.Contains("\"ready\"", StringComparison.Ordinal))
                {
                    using var doc = System.Text.Json.JsonDocument.Parse(line);
                    addr = doc.RootElement.GetProperty("addrs")[0].GetString();
                }
            }
            var conn = await client.ConnectAsync(Multiaddress.Parse(addr!));
            for (var i = 0; i < 2; i++)
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var mbps = await EchoAsync(client, conn, Math.Min(mib, 64) * 1024L * 1024);
                Console.WriteLine($"echo C#->js tcp+pnet+noise+yamux, 1 stream, {Math.Min(mib, 64)} MiB: {mbps:0} MB/s");
            }
        }
        finally
        {
            node.Kill(entireProcessTree: true);
            await node.WaitForExitAsync();
        }
        var jsjs = new ProcessStartInfo("node", ["bench/echo.mjs", "--mib", Math.Min(mib, 64).ToString(System.Globalization.CultureInfo.InvariantCulture), "--runs", "2"])
        {
            WorkingDirectory = js,
            RedirectStandardOutput = true,
        };
        using var p = Process.Start(jsjs)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Console.WriteLine("echo js<->js " + line);
        }
        dir.Delete(recursive: true);
    }

    /// <summary>Echo rounds of <paramref name="mib"/> MiB with throughput and CPU per GiB moved (from <paramref name="cpu"/>).</summary>
    private static async Task EchoRoundsAsync(Libp2pHost client, Libp2pConnection conn, int mib, int rounds, string label, string cpuScope,
        Func<TimeSpan> cpu)
    {
        for (var i = 0; i < rounds; i++)
        {
            var cpu0 = cpu();
            var mbps = await EchoAsync(client, conn, mib * 1024L * 1024);
            var used = (cpu() - cpu0).TotalSeconds;
            Console.WriteLine($"{label} tcp+pnet+noise+yamux, 1 stream, {mib} MiB: {mbps:0} MB/s, {used / (mib * 2 / 1024.0):0.00} CPU-s per GiB moved ({cpuScope})");
        }
    }

    /// <summary>The same echo with the listening end in a child process (two hosts, two runtimes, as between two
    /// machines); CPU counts both processes.</summary>
    private static async Task TwoProcessEchoAsync(PreSharedKey psk, Libp2pHost client, int mib, int rounds)
    {
        var dir = Directory.CreateTempSubdirectory("bethrou-bench-");
        var pskFile = Path.Combine(dir.FullName, "swarm.key");
        await File.WriteAllBytesAsync(pskFile, psk.ToFileBytes());
        var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(StackBench).Assembly.Location, "echo-server", pskFile])
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        using var server = Process.Start(psi)!;
        try
        {
            var line = await server.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("echo server exited");
            var conn = await client.ConnectAsync(Multiaddress.Parse(line.Trim()));
            await EchoRoundsAsync(client, conn, mib, rounds, "echo C#<->C# two processes", "both processes", () =>
            {
                server.Refresh();
                return Process.GetCurrentProcess().TotalProcessorTime + server.TotalProcessorTime;
            });
        }
        finally
        {
            server.StandardInput.Close();
            if (!server.WaitForExit(5000))
            {
                server.Kill(entireProcessTree: true);
            }
            dir.Delete(recursive: true);
        }
    }

    /// <summary>`echo-server PSKFILE`: a listening host with the echo protocol; prints its multiaddr, serves until stdin
    /// closes.</summary>
    public static async Task<int> EchoServerAsync(string pskFile)
    {
        var psk = PreSharedKey.Load(pskFile);
        await using var server = await StartHostAsync(psk);
        Console.WriteLine(server.ListenAddresses[0].WithPeerId(server.LocalPeer).ToString());
        await Console.In.ReadToEndAsync();
        return 0;
    }

    public static async Task<Libp2pHost> StartHostAsync(PreSharedKey? psk, bool listen = true)
    {
        var options = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk };
        if (listen)
        {
            options.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        }
        var host = new Libp2pHost(options);
        host.SetStreamHandler(EchoProtocol, EchoHandlerAsync);
        await host.StartAsync();
        return host;
    }

    public static async Task EchoHandlerAsync(StreamContext s, CancellationToken ct)
    {
        await s.Input.CopyToAsync(s.Output, ct);
        await s.Output.CompleteAsync();
    }

    /// <summary>Sends <paramref name="total"/> bytes and reads the echo back; returns MB/s of payload (10^6 bytes).</summary>
    public static async Task<double> EchoAsync(Libp2pHost client, Libp2pConnection conn, long total)
    {
        await using var s = await client.NewStreamAsync(conn, EchoProtocol);
        return await EchoOverAsync(s, total);
    }

    /// <summary>Writes <paramref name="total"/> bytes to <paramref name="pipe"/> (then half-closes) while reading the
    /// echo back to its end; returns MB/s of payload (10^6 bytes).</summary>
    public static async Task<double> EchoOverAsync(IDuplexPipe pipe, long total)
    {
        var chunk = new byte[256 * 1024];
        Random.Shared.NextBytes(chunk);
        var sw = Stopwatch.StartNew();
        var writer = Task.Run(async () =>
        {
            long sent = 0;
            while (sent < total)
            {
                var n = (int)Math.Min(chunk.Length, total - sent);
                await pipe.Output.WriteAsync(chunk.AsMemory(0, n));
                sent += n;
            }
            await pipe.Output.CompleteAsync();
        });
        long received = 0;
        while (true)
        {
            var r = await pipe.Input.ReadAsync();
            received += r.Buffer.Length;
            pipe.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                break;
            }
        }
        await writer;
        sw.Stop();
        if (received != total)
        {
            throw new InvalidOperationException($"echo returned {received} of {total} bytes");
        }
        return total / sw.Elapsed.TotalSeconds / 1e6;
    }

    /// <summary>Round trips of 1 byte on one open stream, and new stream + 1-byte echo (what a proxied connection pays
    /// before its first byte), median and p99 in microseconds.</summary>
    public static async Task LatencyAsync(Libp2pHost client, Libp2pConnection conn, int iterations)
    {
        var one = new byte[] { 1 };
        var rtt = new List<double>(iterations);
        await using (var s = await client.NewStreamAsync(conn, EchoProtocol))
        {
            for (var i = 0; i < iterations + 200; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await s.Output.WriteAsync(one);
                var r = await s.Input.ReadAsync();
                s.Input.AdvanceTo(r.Buffer.End);
                if (i >= 200)
                {
                    rtt.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                }
            }
            await s.Output.CompleteAsync();
        }
        var open = new List<double>(iterations);
        for (var i = 0; i < iterations + 200; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await using var s = await client.NewStreamAsync(conn, EchoProtocol);
            await s.Output.WriteAsync(one);
            var r = await s.Input.ReadAsync();
            s.Input.AdvanceTo(r.Buffer.End);
            if (i >= 200)
            {
                open.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
            }
            await s.Output.CompleteAsync();
        }
        Console.WriteLine($"1-byte round trip on an open stream: median {Percentile(rtt, 0.5):0} us, p99 {Percentile(rtt, 0.99):0} us; " +
            $"new stream + 1-byte echo: median {Percentile(open, 0.5):0} us, p99 {Percentile(open, 0.99):0} us ({iterations} each)");
    }

    private static double Percentile(List<double> values, double q)
    {
        values.Sort();
        return values[Math.Min(values.Count - 1, (int)(q * values.Count))];
    }

    public static async Task IdleStreamsAsync(Libp2pHost client, Libp2pConnection conn, int count)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = GC.GetTotalMemory(true);
        var rssBefore = Process.GetCurrentProcess().WorkingSet64;
        var streams = new List<StreamContext>(count);
        for (var i = 0; i < count; i++)
        {
            var s = await client.NewStreamAsync(conn, EchoProtocol);
            await s.Output.WriteAsync(new byte[] { 1 });
            var r = await s.Input.ReadAsync();
            s.Input.AdvanceTo(r.Buffer.End);
            streams.Add(s);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var after = GC.GetTotalMemory(true);
        var rssAfter = Process.GetCurrentProcess().WorkingSet64;
        Console.WriteLine($"{count} idle streams (both ends in this process): managed heap +{(after - before) / 1048576.0:0.0} MiB, RSS +{(rssAfter - rssBefore) / 1048576.0:0.0} MiB");
        foreach (var s in streams)
        {
            await s.Output.CompleteAsync();
            await s.DisposeAsync();
        }
    }
}

/// <summary>Throughput of the lower layers alone (TCP, +pnet, +noise) to see where the time goes.</summary>
internal static class LayerBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var mib = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 256;
        foreach (var layers in new[] { "tcp", "tcp+pnet", "tcp+pnet+noise" })
        {
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var mbps = await RunOneAsync(layers, mib * 1024L * 1024);
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            Console.WriteLine($"echo {layers}, {mib} MiB: {mbps:0} MB/s, {cpu / (mib * 2 / 1024.0):0.00} CPU-s per GiB moved (both ends)");
        }
        return 0;
    }

    private static async Task<double> RunOneAsync(string layers, long total)
    {
        await using var listener = Bethrou.Libp2p.Transport.Tcp.TcpTransport.Listen(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        var acceptTask = listener.AcceptAsync(default).AsTask();
        await using var client = await Bethrou.Libp2p.Transport.Tcp.TcpTransport.DialAsync(listener.LocalAddress, default);
        await using var server = (await acceptTask)!;
        var psk = PreSharedKey.Generate();
        IDuplexPipe c = client.Pipe, s = server.Pipe;
        if (layers.Contains("pnet", StringComparison.Ordinal))
        {
            var pc = PnetProtector.ProtectAsync(c, psk, default).AsTask();
            var ps = PnetProtector.ProtectAsync(s, psk, default).AsTask();
            c = await pc;
            s = await ps;
        }
        if (layers.Contains("noise", StringComparison.Ordinal))
        {
            var ni = new Bethrou.Libp2p.Security.Noise.NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
            var nr = new Bethrou.Libp2p.Security.Noise.NoiseSecurityTransport(Ed25519PrivateKey.Generate(), ["/yamux/1.0.0"]);
            var sc = ni.SecureOutboundAsync(c, null, default).AsTask();
            var ss = nr.SecureInboundAsync(s, default).AsTask();
            c = (await sc).Transport;
            s = (await ss).Transport;
        }
        var echo = Task.Run(async () =>
        {
            await s.Input.CopyToAsync(s.Output);
            await s.Output.CompleteAsync();
        });
        var mbps = await StackBench.EchoOverAsync(c, total);
        await echo;
        return mbps;
    }
}
