using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Bench.Socks;

/// <summary>The three measurements. Each prints one `RESULT key=value ...` line for run.sh.</summary>
internal static class Measure
{
    private const int BulkBuffer = 256 * 1024;
    private static readonly byte[] s_payload = Payload.Create(1 << 20);

    private static string F(double v, int digits = 3) => v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static CancellationToken Deadline(double seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    /// <summary>
    /// Opens a connection to the target through the SOCKS5 proxy, or straight to the target when
    /// <paramref name="proxy"/> is null (the `--socks direct` baseline: what origin + load tool manage alone).
    /// </summary>
    private static async ValueTask<(Socket Socket, SocketReader Reader)> OpenAsync(IPEndPoint? proxy, string host, int port, int bufferSize, CancellationToken ct)
    {
        if (proxy is not null)
        {
            return await Socks5.ConnectAsync(proxy, host, port, bufferSize, ct).ConfigureAwait(false);
        }
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Parse(host), port, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return (socket, new SocketReader(socket, bufferSize));
    }

    private static IPEndPoint? ParseProxy(Args args)
    {
        var v = args.Str("socks");
        return v == "direct" ? null : Endpoints.ParseIPv4(v, "--socks");
    }

    /// <summary>
    /// Single-stream download then upload (each on a fresh SOCKS connection), `--repeat` times; reports the median
    /// MB/s of each direction (and the range) and the CPU time of the proxy processes over all transfers.
    /// </summary>
    public static async Task<int> BulkAsync(Args args)
    {
        var proxy = ParseProxy(args);
        var (host, port) = Endpoints.ParseHostPort(args.Str("target"), "--target");
        var bytes = args.Long("bytes");
        var repeat = Math.Max(1, args.Int("repeat", 1));
        var warmup = args.Long("warmup-bytes", 32L << 20);
        var clientPids = args.Pids("client-pids");
        var exitPids = args.Pids("exit-pids");
        var tck = args.Int("clk-tck", 100);
        var timeout = args.Int("timeout-s", 600);
        args.EnsureAllUsed();
        var ct = Deadline(timeout);

        if (warmup > 0)
        {
            await DownloadAsync(proxy, host, port, warmup, ct).ConfigureAwait(false);
            await UploadAsync(proxy, host, port, warmup, ct).ConfigureAwait(false);
        }

        var downs = new List<double>();
        var ups = new List<double>();
        long downTicks = 0, upTicks = 0, clientTicks = 0, exitTicks = 0;
        for (var i = 0; i < repeat; i++)
        {
            var c0 = ProcStats.CpuTicks(clientPids);
            var e0 = ProcStats.CpuTicks(exitPids);
            downs.Add(bytes / 1e6 / await DownloadAsync(proxy, host, port, bytes, ct).ConfigureAwait(false));
            var c1 = ProcStats.CpuTicks(clientPids);
            var e1 = ProcStats.CpuTicks(exitPids);
            ups.Add(bytes / 1e6 / await UploadAsync(proxy, host, port, bytes, ct).ConfigureAwait(false));
            var c2 = ProcStats.CpuTicks(clientPids);
            var e2 = ProcStats.CpuTicks(exitPids);
            downTicks += c1 - c0 + e1 - e0;
            upTicks += c2 - c1 + e2 - e1;
            clientTicks += c2 - c0;
            exitTicks += e2 - e0;
        }

        double Sec(long ticks) => (double)ticks / tck;
        downs.Sort();
        ups.Sort();
        var gb = 2.0 * repeat * bytes / 1e9;
        Console.WriteLine(
            $"RESULT bytes={bytes} repeat={repeat} down_mbps={F(Median(downs), 1)} up_mbps={F(Median(ups), 1)} " +
            $"down_range={F(downs[0], 0)}-{F(downs[^1], 0)} up_range={F(ups[0], 0)}-{F(ups[^1], 0)} " +
            $"client_cpu_s={F(Sec(clientTicks), 2)} exit_cpu_s={F(Sec(exitTicks), 2)} " +
            $"down_cpu_s={F(Sec(downTicks), 2)} up_cpu_s={F(Sec(upTicks), 2)} " +
            $"cpu_s_per_gb={F(Sec(clientTicks + exitTicks) / gb, 2)}");
        return 0;
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>GET /bytes/n on a fresh SOCKS connection; seconds from sending the request to the last byte.</summary>
    private static async ValueTask<double> DownloadAsync(IPEndPoint? proxy, string host, int port, long bytes, CancellationToken ct)
    {
        var (socket, reader) = await OpenAsync(proxy, host, port, BulkBuffer, ct).ConfigureAwait(false);
        using var _ = socket;
        var start = Stopwatch.GetTimestamp();
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /bytes/{bytes} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"), SocketFlags.None, ct).ConfigureAwait(false);
        await ReadResponseBodyAsync(reader, bytes, ct).ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>POST /upload of n bytes on a fresh SOCKS connection; seconds until the origin's byte count arrives.</summary>
    private static async ValueTask<double> UploadAsync(IPEndPoint? proxy, string host, int port, long bytes, CancellationToken ct)
    {
        var (socket, reader) = await OpenAsync(proxy, host, port, 64 * 1024, ct).ConfigureAwait(false);
        using var _ = socket;
        var start = Stopwatch.GetTimestamp();
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/octet-stream\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"), SocketFlags.None, ct).ConfigureAwait(false);
        var left = bytes;
        while (left > 0)
        {
            var n = (int)Math.Min(left, s_payload.Length);
            await socket.SendAsync(s_payload.AsMemory(0, n), SocketFlags.None, ct).ConfigureAwait(false);
            left -= n;
        }
        var head = HttpHead.Parse(await reader.ReadHeadAsync(ct).ConfigureAwait(false) ?? throw new EndOfStreamException("no upload response"));
        if (head.StatusCode() != 200 || head.ContentLength is not { } len || len > 64)
        {
            throw new HttpFormatException($"unexpected upload response `{head.StartLine}`");
        }
        var body = new byte[len];
        await reader.ReadExactlyAsync(body, ct).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var counted = Encoding.ASCII.GetString(body).Trim();
        if (counted != bytes.ToString(CultureInfo.InvariantCulture))
        {
            throw new HttpFormatException($"origin counted {counted} uploaded bytes, sent {bytes}");
        }
        return elapsed;
    }

    private static async ValueTask ReadResponseBodyAsync(SocketReader reader, long expected, CancellationToken ct)
    {
        var text = await reader.ReadHeadAsync(ct).ConfigureAwait(false) ?? throw new EndOfStreamException("connection closed before the response");
        var head = HttpHead.Parse(text);
        if (head.StatusCode() != 200)
        {
            throw new HttpFormatException($"unexpected response `{head.StartLine}`");
        }
        if (head.ContentLength != expected)
        {
            throw new HttpFormatException($"Content-Length {head.ContentLength} but asked for {expected}");
        }
        await reader.SkipAsync(expected, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Connect to first response byte: each iteration opens a new TCP connection to the proxy, runs the SOCKS5
    /// greeting and CONNECT, sends a tiny GET and stops the clock at the first response byte.
    /// </summary>
    public static async Task<int> LatencyAsync(Args args)
    {
        var proxy = ParseProxy(args);
        var (host, port) = Endpoints.ParseHostPort(args.Str("target"), "--target");
        var iterations = args.Int("iter", 1000);
        var warmup = args.Int("warmup", 100);
        var path = args.Str("path", "/bytes/16");
        var timeout = args.Int("timeout-s", 600);
        var samplesOut = args.Str("samples-out", "");
        args.EnsureAllUsed();
        var ct = Deadline(timeout);
        var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        var samples = new List<double>(iterations);
        var errors = 0;
        string? firstError = null;
        for (var i = 0; i < warmup + iterations; i++)
        {
            try
            {
                var start = Stopwatch.GetTimestamp();
                var (socket, reader) = await OpenAsync(proxy, host, port, 4096, ct).ConfigureAwait(false);
                using var _ = socket;
                await socket.SendAsync(request, SocketFlags.None, ct).ConfigureAwait(false);
                if (!await reader.WaitFirstByteAsync(ct).ConfigureAwait(false))
                {
                    throw new EndOfStreamException("closed before the first response byte");
                }
                var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                // not timed: read the rest so every connection ends cleanly
                await reader.DrainAsync(ct).ConfigureAwait(false);
                if (i >= warmup)
                {
                    samples.Add(ms);
                }
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                errors++;
                firstError ??= $"{e.GetType().Name}: {e.Message}";
            }
        }
        if (samplesOut.Length > 0)
        {
            // raw samples, appended, so runs split into rounds can be summarised together (`stats`)
            await File.AppendAllLinesAsync(samplesOut, samples.Select(v => F(v, 4)), CancellationToken.None).ConfigureAwait(false);
        }
        if (samples.Count == 0)
        {
            Console.WriteLine($"RESULT ok=0 errors={errors} first_error=\"{firstError}\"");
            return 1;
        }
        Console.WriteLine($"RESULT ok={samples.Count} errors={errors} {Summary(samples)}" + (firstError is null ? "" : $" first_error=\"{firstError}\""));
        return 0;
    }

    private static string Summary(List<double> samples)
    {
        samples.Sort();
        return $"median_ms={F(Percentile(samples, 50))} p90_ms={F(Percentile(samples, 90))} p99_ms={F(Percentile(samples, 99))} " +
            $"max_ms={F(samples[^1])} mean_ms={F(samples.Average())}";
    }

    /// <summary>Summarises a file of latency samples (one value in ms per line) written with `--samples-out`.</summary>
    public static int Stats(Args args)
    {
        var file = args.Str("file");
        args.EnsureAllUsed();
        var samples = new List<double>();
        foreach (var line in File.ReadLines(file))
        {
            if (line.Length == 0)
            {
                continue;
            }
            if (!double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            {
                throw new UsageException($"{file}: `{line}` is not a number");
            }
            samples.Add(v);
        }
        if (samples.Count == 0)
        {
            Console.WriteLine($"RESULT failed=\"no samples in {file}\"");
            return 1;
        }
        Console.WriteLine($"RESULT ok={samples.Count} {Summary(samples)}");
        return 0;
    }

    /// <summary>
    /// Readiness: repeats a tiny GET through the proxy (every 100 ms) until one succeeds or the timeout passes.
    /// A proxy that listens before its tunnel is up (bethrou client before its exit is connected) fails the first
    /// requests; the measurements start only once the whole path works.
    /// </summary>
    public static async Task<int> ProbeAsync(Args args)
    {
        var proxy = ParseProxy(args);
        var (host, port) = Endpoints.ParseHostPort(args.Str("target"), "--target");
        var timeout = args.Int("timeout-s", 30);
        args.EnsureAllUsed();
        var request = Encoding.ASCII.GetBytes($"GET /bytes/16 HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        var start = Stopwatch.GetTimestamp();
        var attempts = 0;
        string? lastError = null;
        while (Stopwatch.GetElapsedTime(start).TotalSeconds < timeout)
        {
            attempts++;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var (socket, reader) = await OpenAsync(proxy, host, port, 4096, cts.Token).ConfigureAwait(false);
                using var _ = socket;
                await socket.SendAsync(request, SocketFlags.None, cts.Token).ConfigureAwait(false);
                await ReadResponseBodyAsync(reader, 16, cts.Token).ConfigureAwait(false);
                Console.WriteLine($"RESULT ready_s={F(Stopwatch.GetElapsedTime(start).TotalSeconds)} attempts={attempts}");
                return 0;
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                lastError = e is OperationCanceledException ? "attempt timed out after 5 s" : $"{e.GetType().Name}: {e.Message}";
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
        Console.WriteLine($"RESULT failed=\"not ready after {timeout} s and {attempts} attempts; last error: {lastError?.Replace('"', '\'')}\"");
        return 1;
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(List<double> sorted, double p)
    {
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>C connections at once, each a fresh SOCKS connection fetching n bytes; wall time, errors, peak RSS.</summary>
    public static async Task<int> ConcurrentAsync(Args args)
    {
        var proxy = ParseProxy(args);
        var (host, port) = Endpoints.ParseHostPort(args.Str("target"), "--target");
        var conns = args.Int("conns", 1000);
        var bytes = args.Long("bytes", 1 << 20);
        var exitPids = args.Pids("exit-pids");
        var clientPids = args.Pids("client-pids");
        var sampleMs = args.Int("sample-ms", 20);
        var timeout = args.Int("timeout-s", 120);
        args.EnsureAllUsed();
        var ct = Deadline(timeout);

        var errorKinds = new Dictionary<string, int>(StringComparer.Ordinal);
        var durations = new double[conns];
        using var exitRss = new RssSampler(exitPids, sampleMs);
        using var clientRss = new RssSampler(clientPids, sampleMs);
        var start = Stopwatch.GetTimestamp();
        var tasks = new Task[conns];
        for (var i = 0; i < conns; i++)
        {
            var index = i;
            tasks[i] = Task.Run(async () =>
            {
                var t0 = Stopwatch.GetTimestamp();
                var (socket, reader) = await OpenAsync(proxy, host, port, 64 * 1024, ct).ConfigureAwait(false);
                using var _ = socket;
                await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /bytes/{bytes} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"), SocketFlags.None, ct).ConfigureAwait(false);
                await ReadResponseBodyAsync(reader, bytes, ct).ConfigureAwait(false);
                durations[index] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }, ct);
        }
        var ok = 0;
        var errors = 0;
        for (var i = 0; i < conns; i++)
        {
            try
            {
                await tasks[i].ConfigureAwait(false);
                ok++;
            }
            catch (Exception e)
            {
                errors++;
                var kind = e is OperationCanceledException ? "timeout" : $"{e.GetType().Name}: {e.Message}";
                errorKinds[kind] = errorKinds.GetValueOrDefault(kind) + 1;
            }
        }
        var total = Stopwatch.GetElapsedTime(start).TotalSeconds;
        exitRss.Dispose();
        clientRss.Dispose();
        var exitHwm = ProcStats.StatusKiB(exitPids, "VmHWM");
        var okDurations = durations.Where(d => d > 0).OrderBy(d => d).ToList();
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"RESULT conns={conns} ok={ok} errors={errors} total_s={F(total)}");
        if (okDurations.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" conn_p50_s={F(Percentile(okDurations, 50))} conn_max_s={F(okDurations[^1])}");
        }
        sb.Append(CultureInfo.InvariantCulture, $" exit_peak_rss_kib={exitRss.PeakKiB} exit_hwm_kib={exitHwm} client_peak_rss_kib={clientRss.PeakKiB} rss_samples={exitRss.Samples}");
        if (errorKinds.Count > 0)
        {
            var first = errorKinds.OrderByDescending(kv => kv.Value).First();
            sb.Append(CultureInfo.InvariantCulture, $" error_kinds={errorKinds.Count} top_error=\"{first.Value}x {first.Key}\"");
        }
        Console.WriteLine(sb.ToString());
        return errors == 0 ? 0 : 1;
    }
}
