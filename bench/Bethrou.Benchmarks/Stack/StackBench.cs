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
        var oneProcess = await EchoRoundsAsync(client, conn, mib, rounds, "echo C#<->C#", "both ends", () => Process.GetCurrentProcess().TotalProcessorTime);
        double? ceiling = null;
        if (!args.Contains("--echo-only"))
        {
            ceiling = LayerBench.Ceiling(mib);
            PrintAgainstCeiling("one process", oneProcess, ceiling.Value);
            await LatencyAsync(client, conn, 2000);
            await IdleStreamsAsync(client, conn, 1000);
        }
        if (args.Contains("--two-processes"))
        {
            var twoProcesses = await TwoProcessEchoAsync(psk, client, mib, rounds);
            if (ceiling is { } c)
            {
                PrintAgainstCeiling("two processes", twoProcesses, c);
            }
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

    /// <summary>The echo rounds after the first (which runs tier-0 code in this process) as a share of the ceiling
    /// measured in the same run.</summary>
    private static void PrintAgainstCeiling(string label, List<double> rounds, double ceiling)
    {
        var steady = rounds.Count > 1 ? rounds.Skip(1).ToList() : rounds;
        Console.WriteLine($"echo against the ceiling, {label} (rounds after the first): " +
            string.Join(" / ", steady.Select(r => $"{r:0} MB/s = {r / ceiling * 100:0} %")));
    }

    /// <summary>Echo rounds of <paramref name="mib"/> MiB with throughput and CPU per GiB moved (from <paramref name="cpu"/>);
    /// returns each round's MB/s.</summary>
    private static async Task<List<double>> EchoRoundsAsync(Libp2pHost client, Libp2pConnection conn, int mib, int rounds, string label, string cpuScope,
        Func<TimeSpan> cpu)
    {
        var results = new List<double>(rounds);
        for (var i = 0; i < rounds; i++)
        {
            var cpu0 = cpu();
            var mbps = await EchoAsync(client, conn, mib * 1024L * 1024);
            var used = (cpu() - cpu0).TotalSeconds;
            Console.WriteLine($"{label} tcp+pnet+noise+yamux, 1 stream, {mib} MiB: {mbps:0} MB/s, {used / (mib * 2 / 1024.0):0.00} CPU-s per GiB moved ({cpuScope})");
            results.Add(mbps);
        }
        return results;
    }

    /// <summary>The same echo with the listening end in a child process (two hosts, two runtimes, as between two
    /// machines); CPU counts both processes.</summary>
    private static async Task<List<double>> TwoProcessEchoAsync(PreSharedKey psk, Libp2pHost client, int mib, int rounds)
    {
        var dir = Directory.CreateTempSubdirectory("bethrou-bench-");
        var pskFile = Path.Combine(dir.FullName, "swarm.key");
        await File.WriteAllBytesAsync(pskFile, psk.ToFileBytes());
        // Started the way this process was: through the apphost (`dotnet run`, the built executable) or through the
        // `dotnet` host with the assembly as its first argument.
        var host = Environment.ProcessPath!;
        string[] arguments = Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? [typeof(StackBench).Assembly.Location, "echo-server", pskFile]
            : ["echo-server", pskFile];
        var psi = new ProcessStartInfo(host, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        using var server = Process.Start(psi)!;
        try
        {
            var line = await server.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("echo server exited");
            var conn = await client.ConnectAsync(Multiaddress.Parse(line.Trim()));
            return await EchoRoundsAsync(client, conn, mib, rounds, "echo C#<->C# two processes", "both processes", () =>
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

    /// <summary>
    /// What this machine allows the stack's echo at best: the CPU one GiB moved cannot avoid (the kernel's, from an
    /// echo over plain blocking sockets; XSalsa20 over every byte on each side; every byte sealed once and opened once
    /// with ChaCha20-Poly1305 in 65519-byte Noise frames, each cipher measured here on one thread through the code the
    /// stack uses), spread over every core with nothing else to do. The stack's figure over this one is the share left to framing, pipes,
    /// scheduling and idle time.
    /// </summary>
    public static double Ceiling(int mib)
    {
        var (tcp, tcpMbps) = RawTcpEcho(mib * 1024L * 1024);
        var xsalsa = SecondsPerGiB(XSalsa20Pass());
        var (sealPass, openPass) = ChaChaPolyPasses();
        var seal = SecondsPerGiB(sealPass);
        var open = SecondsPerGiB(openPass);
        var perGiBMoved = tcp + 2 * xsalsa + seal + open;
        var cores = Environment.ProcessorCount;
        var ceilingMbps = cores / perGiBMoved / 2 * 1073.741824; // GiB moved per second, half of it each way, in MB/s
        Console.WriteLine(
            $"ceiling: per GiB moved raw TCP echo {tcp:0.000} (at {tcpMbps:0} MB/s) + XSalsa20 2 x {xsalsa:0.000} + ChaCha20-Poly1305 seal " +
            $"{seal:0.000} + open {open:0.000} = {perGiBMoved:0.00} CPU-s; on {cores} cores fully busy " +
            $"with nothing else: {ceilingMbps:0} MB/s echo");
        return ceilingMbps;
    }

    /// <summary>The kernel's share: an echo over plain blocking sockets (a thread per direction at each end, 256 KiB
    /// reads and writes, no pipes), CPU-seconds per GiB moved and MB/s each way.</summary>
    private static (double CpuPerGiBMoved, double Mbps) RawTcpEcho(long total)
    {
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var server = listener.Accept();
        var cpu0 = CpuSeconds();
        var sw = Stopwatch.StartNew();
        var echo = new Thread(() =>
        {
            var buffer = new byte[256 * 1024];
            int n;
            while ((n = server.Receive(buffer)) > 0)
            {
                server.Send(buffer.AsSpan(0, n));
            }
            server.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        });
        var sender = new Thread(() =>
        {
            var chunk = new byte[256 * 1024];
            for (var sent = 0L; sent < total;)
            {
                var n = (int)Math.Min(chunk.Length, total - sent);
                client.Send(chunk.AsSpan(0, n));
                sent += n;
            }
            client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        });
        echo.Start();
        sender.Start();
        var buffer = new byte[256 * 1024];
        long received = 0;
        int r;
        while ((r = client.Receive(buffer)) > 0)
        {
            received += r;
        }
        sender.Join();
        echo.Join();
        var seconds = sw.Elapsed.TotalSeconds;
        var cpu = CpuSeconds() - cpu0;
        if (received != total)
        {
            throw new InvalidOperationException($"raw echo returned {received} of {total} bytes");
        }
        return (cpu / (total * 2 / 1073741824.0), total / seconds / 1e6);
    }

    /// <summary>CPU-seconds per GiB of a pass run repeatedly for about a second (the pass reports the bytes it did and
    /// the process CPU it spent doing them, leaving out its own set-up).</summary>
    private static double SecondsPerGiB(Func<int, (long Bytes, double Cpu)> pass)
    {
        pass(64); // warm
        var bytes = 0L;
        var cpu = 0.0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(1))
        {
            var (b, c) = pass(256);
            bytes += b;
            cpu += c;
        }
        return cpu / (bytes / 1073741824.0);
    }

    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static Func<int, (long, double)> XSalsa20Pass()
    {
        var key = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(key);
        var stream = new XSalsa20Stream(key, new byte[24]);
        var buffer = new byte[64 * 1024];
        return n =>
        {
            var cpu0 = CpuSeconds();
            for (var i = 0; i < n; i++)
            {
                stream.Transform(buffer, buffer);
            }
            return ((long)n * buffer.Length, CpuSeconds() - cpu0);
        };
    }

    /// <summary>Sealing and opening full Noise frames (65519 plaintext bytes) with the cipher state the transport uses.</summary>
    private static (Func<int, (long, double)> Seal, Func<int, (long, double)> Open) ChaChaPolyPasses()
    {
        const int plaintext = 65519;
        var key = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(key);
        var sealer = new Bethrou.Libp2p.Security.Noise.NoiseCipherState(key);
        var opener = new Bethrou.Libp2p.Security.Noise.NoiseCipherState(key);
        var frame = new byte[plaintext + 16];
        var opened = new byte[plaintext];
        (long, double) Seal(int n)
        {
            var cpu0 = CpuSeconds();
            for (var i = 0; i < n; i++)
            {
                sealer.Encrypt(default, frame.AsSpan(0, plaintext), frame.AsSpan(0, plaintext), frame.AsSpan(plaintext));
            }
            return ((long)n * plaintext, CpuSeconds() - cpu0);
        }
        // Frames open only in the order they were sealed: a second sealer with the same key makes each batch of 8
        // (untimed; 8 frames stay in a core's L2 as a frame just received does), then the batch is opened the way the
        // transport's reader does it (tag checked over the ciphertext first, then decrypted where it goes).
        var batchSealer = new Bethrou.Libp2p.Security.Noise.NoiseCipherState(key);
        var batch = new byte[8][];
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = new byte[plaintext + 16];
        }
        (long, double) Open(int n)
        {
            var cpu = 0.0;
            for (var done = 0; done < n; done += batch.Length)
            {
                foreach (var f in batch)
                {
                    batchSealer.Encrypt(default, f.AsSpan(0, plaintext), f.AsSpan(0, plaintext), f.AsSpan(plaintext));
                }
                var cpu0 = CpuSeconds();
                foreach (var f in batch)
                {
                    if (!opener.TryOpenVerified(new ReadOnlySequence<byte>(f, 0, plaintext), f.AsSpan(plaintext)))
                    {
                        throw new InvalidOperationException("a frame sealed here did not open");
                    }
                    opener.DecryptVerified(f.AsSpan(0, plaintext), opened);
                    opener.EndVerified();
                }
                cpu += CpuSeconds() - cpu0;
            }
            return ((long)n * plaintext, cpu);
        }
        return (Seal, Open);
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
