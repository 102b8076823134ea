using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Bethrou.Interop.Tests.Harness;

/// <summary>
/// A running js-libp2p test peer (node interop/js/peer.mjs), driven by JSON lines over stdin/stdout.
/// Start with <see cref="StartAsync"/>; dispose to stop it (sends "stop", then kills its own process by PID).
/// </summary>
public sealed class JsPeer : IAsyncDisposable
{
    private const int MaxStderrChars = 512 * 1024;

    private static readonly JsonSerializerOptions s_jsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly Process _process;
    private readonly JsPeerOptions _options;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly object _eventsLock = new();
    private readonly List<JsonElement> _events = [];
    private readonly List<(Func<JsonElement, bool> Predicate, TaskCompletionSource<JsonElement> Tcs)> _eventWaiters = [];
    private readonly object _stderrLock = new();
    private readonly StringBuilder _stderr = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource<JsonElement> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _stdoutLoop = Task.CompletedTask;
    private Task _stderrLoop = Task.CompletedTask;
    private long _nextId;
    private int _disposed;

    private JsPeer(Process process, JsPeerOptions options)
    {
        _process = process;
        _options = options;
    }

    /// <summary>The js peer's id (base58 text).</summary>
    public string PeerId { get; private set; } = "";

    /// <summary>Full listen multiaddrs, each ending in /p2p/&lt;PeerId&gt;.</summary>
    public IReadOnlyList<string> Addrs { get; private set; } = [];

    /// <summary>Protocols the js peer handles.</summary>
    public IReadOnlyList<string> Protocols { get; private set; } = [];

    /// <summary>The first listen multiaddr (with /p2p/).</summary>
    public string Addr => Addrs.Count > 0 ? Addrs[0] : throw new JsPeerException("js peer has no listen address");

    public string Name => _options.Name;

    public int ProcessId => _process.Id;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Everything the peer wrote to stderr so far (its log; the last 512 KiB).</summary>
    public string Stderr
    {
        get
        {
            lock (_stderrLock)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>A snapshot of every event line received so far ("ready", "connection", "connection:close", "identify", "echo", "proxy", ...).</summary>
    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_eventsLock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Starts a js peer and waits for its "ready" event (bounded by <see cref="JsPeerOptions.StartTimeout"/>).</summary>
    public static async Task<JsPeer> StartAsync(JsPeerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new JsPeerOptions();
        await JsInterop.EnsureInstalledAsync().ConfigureAwait(false);

        var psi = new ProcessStartInfo(JsInterop.NodeExecutable)
        {
            WorkingDirectory = JsInterop.JsDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in options.ToArguments())
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in options.Environment)
        {
            psi.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new JsPeerException($"could not start {psi.FileName}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new JsPeerException($"could not start '{psi.FileName}' (is Node.js >= 20 installed and on PATH?): {ex.Message}", ex);
        }

        var peer = new JsPeer(process, options);
        peer._stderrLoop = Task.Run(peer.ReadStderrAsync, CancellationToken.None);
        peer._stdoutLoop = Task.Run(peer.ReadStdoutAsync, CancellationToken.None);

        try
        {
            var ready = await peer._ready.Task.WaitAsync(options.StartTimeout, cancellationToken).ConfigureAwait(false);
            peer.PeerId = ready.GetProperty("peerId").GetString() ?? throw new JsPeerException("ready event without peerId");
            peer.Addrs = StringArray(ready, "addrs");
            peer.Protocols = StringArray(ready, "protocols");
            return peer;
        }
        catch (Exception ex)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
            if (ex is TimeoutException)
            {
                throw new JsPeerException($"js peer '{options.Name}' was not ready within {options.StartTimeout}; stderr:\n{peer.Stderr}", ex);
            }

            if (ex is JsPeerException)
            {
                throw;
            }

            throw new JsPeerException($"js peer '{options.Name}' failed to start: {ex.Message}; stderr:\n{peer.Stderr}", ex);
        }
    }

    /// <summary>
    /// Sends one command (any object serialized to JSON with camelCase names; an "id" is added) and returns the
    /// reply line, ok or not. Throws <see cref="JsPeerException"/> when no reply arrives within the timeout or the peer exits.
    /// </summary>
    public async Task<JsonElement> SendAsync(object command, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var node = command as JsonObject
            ?? JsonSerializer.SerializeToNode(command, s_jsonOptions) as JsonObject
            ?? throw new ArgumentException("command must serialize to a JSON object", nameof(command));
        node = (JsonObject)node.DeepClone();
        var id = Interlocked.Increment(ref _nextId);
        node["id"] = id;
        var name = node["cmd"]?.GetValue<string>() ?? "?";
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        if (HasExited)
        {
            _pending.TryRemove(id, out _);
            throw ExitedException(name);
        }

        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _process.StandardInput.WriteAsync(node.ToJsonString() + "\n").ConfigureAwait(false);
                await _process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }

            return await tcs.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new JsPeerException($"js peer '{Name}' did not answer '{name}' within {timeout}; stderr tail:\n{StderrTail()}", ex);
        }
        catch (IOException ex)
        {
            throw new JsPeerException($"could not send '{name}' to js peer '{Name}': {ex.Message}; stderr tail:\n{StderrTail()}", ex);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Like <see cref="SendAsync"/> but throws <see cref="JsPeerCommandException"/> when the reply has ok:false.</summary>
    public async Task<JsonElement> SendOkAsync(object command, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(command, timeout, cancellationToken).ConfigureAwait(false);
        if (!IsOk(reply))
        {
            var name = (command as JsonObject)?["cmd"]?.GetValue<string>()
                ?? JsonSerializer.SerializeToNode(command, s_jsonOptions)?["cmd"]?.GetValue<string>()
                ?? "?";
            throw new JsPeerCommandException(name, Str(reply, "error") ?? "(no error text)", reply);
        }

        return reply;
    }

    /// <summary>Waits for an event line matching the predicate; events that already arrived count.</summary>
    public async Task<JsonElement> WaitForEventAsync(Func<JsonElement, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = (predicate, tcs);
        lock (_eventsLock)
        {
            foreach (var e in _events)
            {
                if (predicate(e))
                {
                    return e;
                }
            }

            _eventWaiters.Add(waiter);
        }

        try
        {
            return await tcs.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            var seen = string.Join(", ", Events.Select(e => Str(e, "event")));
            throw new JsPeerException($"js peer '{Name}': no matching event within {timeout} (events so far: {seen}); stderr tail:\n{StderrTail()}", ex);
        }
        finally
        {
            lock (_eventsLock)
            {
                _eventWaiters.Remove(waiter);
            }
        }
    }

    /// <summary>Waits for an event with the given "event" name (and optional extra condition).</summary>
    public Task<JsonElement> WaitForEventAsync(string eventName, Func<JsonElement, bool>? predicate, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitForEventAsync(e => Str(e, "event") == eventName && (predicate is null || predicate(e)), timeout, cancellationToken);

    /// <summary>Waits until at least <paramref name="count"/> events named <paramref name="eventName"/> arrived; returns the last one.</summary>
    public Task<JsonElement> WaitForEventCountAsync(string eventName, int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        // each event is offered to a waiter's predicate exactly once (first the ones already seen, then new ones)
        var seen = 0;
        return WaitForEventAsync(e => Str(e, "event") == eventName && ++seen >= count, timeout, cancellationToken);
    }

    /// <summary>Waits for js to report a connection with the given peer (either direction unless given).</summary>
    public Task<JsonElement> WaitForConnectionAsync(string peerId, TimeSpan timeout, string? direction = null, CancellationToken cancellationToken = default) =>
        WaitForEventAsync("connection", e => Str(e, "peer") == peerId && (direction is null || Str(e, "direction") == direction), timeout, cancellationToken);

    // ---- typed helpers. A target is a multiaddr (starts with '/') or a peer id (uses an open connection or the peer store).

    /// <summary>Dials; throws <see cref="JsPeerCommandException"/> with js's error text on failure.</summary>
    public async Task<JsDialResult> DialAsync(string addr, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var result = await TryDialAsync(addr, timeout, cancellationToken).ConfigureAwait(false);
        if (!result.Ok)
        {
            throw new JsPeerCommandException("dial", result.Error ?? "(no error text)", default);
        }

        return result;
    }

    /// <summary>Dials and reports failure in the result (js's error text in <see cref="JsDialResult.Error"/>).</summary>
    public async Task<JsDialResult> TryDialAsync(string addr, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(15);
        var started = Stopwatch.GetTimestamp();
        var reply = await SendAsync(Command("dial", addr, ("timeoutMs", Ms(t))), t + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        return IsOk(reply)
            ? new JsDialResult(true, Str(reply, "peerId"), Str(reply, "remoteAddr"), Bool(reply, "limited"), null, null, elapsed)
            : new JsDialResult(false, null, null, false, Str(reply, "error"), Str(reply, "errorName"), elapsed);
    }

    /// <summary>
    /// Pings over js's connection to the target: /ipfs/ping/1.0.0, 32 random bytes echoed, <paramref name="count"/> times.
    /// By default one stream per ping (as js does); <paramref name="sameStream"/> pings back-to-back on one stream (as go does);
    /// <paramref name="useJsService"/> uses js's own ping service instead (which picks the connection itself).
    /// </summary>
    public async Task<JsPingResult> PingAsync(string target, int count = 1, bool sameStream = false, bool useJsService = false, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(10 + count);
        var reply = await SendOkAsync(
            Command("ping", target, ("count", count), ("sameStream", sameStream), ("service", useJsService), ("timeoutMs", Ms(t))),
            t + TimeSpan.FromSeconds(5),
            cancellationToken).ConfigureAwait(false);
        return new JsPingResult(Str(reply, "peerId") ?? "", DoubleArray(reply, "rtts"), Bool(reply, "limited"));
    }

    /// <summary>What js learned from identify on its connection to the target (waits for the automatic identify).</summary>
    public async Task<JsIdentifyResult> IdentifyAsync(string target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(15);
        var reply = await SendOkAsync(Command("identify", target, ("timeoutMs", Ms(t)), ("waitMs", Ms(t / 2))), t + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return new JsIdentifyResult(
            Str(reply, "peerId") ?? "",
            Str(reply, "agentVersion"),
            Str(reply, "protocolVersion"),
            StringArray(reply, "protocols"),
            StringArray(reply, "listenAddrs"),
            Str(reply, "observedAddr"),
            Str(reply, "publicKey"),
            Bool(reply, "publicKeyMatchesPeerId"),
            reply);
    }

    /// <summary>
    /// Opens <paramref name="streams"/> streams at once, each sending <paramref name="bytes"/> seeded pseudo-random bytes,
    /// half-closing and verifying the echo byte for byte. Returns per-stream results (also when some failed).
    /// </summary>
    public async Task<JsEchoResult> EchoAsync(string target, long bytes, int streams = 1, string? protocol = null, int seed = 1, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(60);
        var reply = await SendAsync(
            Command("echo", target, ("bytes", bytes), ("streams", streams), ("protocol", protocol), ("seed", seed), ("timeoutMs", Ms(t))),
            t + TimeSpan.FromSeconds(5),
            cancellationToken).ConfigureAwait(false);
        if (!reply.TryGetProperty("streams", out var list))
        {
            throw new JsPeerCommandException("echo", Str(reply, "error") ?? "(no error text)", reply);
        }

        var results = list.EnumerateArray().Select(s => new JsEchoStreamResult(
            Bool(s, "ok"),
            Long(s, "bytes"),
            Long(s, "received"),
            Double(s, "ms"),
            Double(s, "mbps"),
            Double(s, "MBps"),
            Str(s, "sha256Sent"),
            Str(s, "sha256Received"),
            Str(s, "error"))).ToList();
        return new JsEchoResult(IsOk(reply), Long(reply, "totalBytes"), Double(reply, "ms"), Double(reply, "mbps"), Double(reply, "MBps"), results, Str(reply, "error"));
    }

    /// <summary>
    /// Acts as a Go Bethrou client on /bethrou/proxy/1.0.0: request line, reply, payload, half-close, response until FIN.
    /// <paramref name="lazy"/> (default, like go-multistream) sends the multistream header, protocol and request in one write.
    /// </summary>
    public async Task<JsProxyResult> ProxyAsync(
        string target,
        string address,
        ReadOnlyMemory<byte> send,
        bool lazy = true,
        int? connectTimeoutMs = null,
        bool halfClose = true,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(30);
        var reply = await SendOkAsync(
            Command(
                "proxy",
                target,
                ("address", address),
                ("send", Convert.ToBase64String(send.Span)),
                ("lazy", lazy),
                ("connectTimeoutMs", connectTimeoutMs),
                ("halfClose", halfClose),
                ("timeoutMs", Ms(t))),
            t + TimeSpan.FromSeconds(5),
            cancellationToken).ConfigureAwait(false);
        return new JsProxyResult(
            Str(reply, "peerId") ?? "",
            Str(reply, "status") ?? "",
            Str(reply, "message"),
            Str(reply, "reply") ?? "",
            Convert.FromBase64String(Str(reply, "response") ?? ""),
            Double(reply, "ms"));
    }

    /// <summary>The js peer's current connections (optionally only to one peer).</summary>
    public async Task<IReadOnlyList<JsConnectionInfo>> ConnectionsAsync(string? peer = null, CancellationToken cancellationToken = default)
    {
        var cmd = new JsonObject { ["cmd"] = "connections" };
        if (peer is not null)
        {
            cmd["peer"] = peer;
        }

        var reply = await SendOkAsync(cmd, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        return reply.GetProperty("connections").EnumerateArray().Select(c => new JsConnectionInfo(
            Str(c, "id") ?? "",
            Str(c, "peer") ?? "",
            Str(c, "addr") ?? "",
            Str(c, "status") ?? "",
            Str(c, "direction") ?? "",
            Bool(c, "limited"),
            Str(c, "encryption"),
            Str(c, "multiplexer"))).ToList();
    }

    /// <summary>Closes js's connections to a peer (or multiaddr).</summary>
    public Task HangUpAsync(string target, CancellationToken cancellationToken = default) =>
        SendOkAsync(Command("hangup", target), TimeSpan.FromSeconds(15), cancellationToken);

    /// <summary>Starts listening on another multiaddr (a relay "/p2p-circuit" address waits for the reservation); returns all addrs.</summary>
    public async Task<IReadOnlyList<string>> ListenAsync(string addr, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var t = timeout ?? TimeSpan.FromSeconds(30);
        var reply = await SendOkAsync(new JsonObject { ["cmd"] = "listen", ["addr"] = addr, ["timeoutMs"] = Ms(t) }, t + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        Addrs = StringArray(reply, "addrs");
        return Addrs;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!HasExited)
        {
            try
            {
                await SendAsync(new JsonObject { ["cmd"] = "stop" }, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (JsPeerException)
            {
                // it may already be gone or stuck; the kill below handles it
            }

            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
            }

            await WaitExitOrKillAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        try
        {
            await Task.WhenAll(_stdoutLoop, _stderrLoop).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        _process.Dispose();
        _writeLock.Dispose();
    }

    private async Task WaitExitOrKillAsync(TimeSpan grace)
    {
        try
        {
            await _exited.Task.WaitAsync(grace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            try
            {
                // only our own process, by its PID
                _process.Kill(entireProcessTree: false);
            }
            catch (InvalidOperationException)
            {
                // exited meanwhile
            }

            try
            {
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    private async Task ReadStdoutAsync()
    {
        var reader = _process.StandardOutput;
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                JsonElement msg;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    msg = doc.RootElement.Clone();
                }
                catch (JsonException)
                {
                    AppendStderr("[stdout, not JSON] " + line + "\n");
                    continue;
                }

                if (msg.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                if (msg.TryGetProperty("event", out var ev))
                {
                    OnEvent(ev.GetString() ?? "", msg);
                }
                else if (msg.TryGetProperty("id", out var idProp) && idProp.ValueKind == JsonValueKind.Number
                         && _pending.TryGetValue(idProp.GetInt64(), out var tcs))
                {
                    tcs.TrySetResult(msg);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            AppendStderr($"[harness] stdout read failed: {ex.Message}\n");
        }
        finally
        {
            await OnExitedAsync().ConfigureAwait(false);
        }
    }

    private async Task OnExitedAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            // let the stderr loop finish so failures carry the whole log
            await _stderrLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        var code = _process.HasExited ? _process.ExitCode : -1;
        _exited.TrySetResult(code);
        _ready.TrySetException(new JsPeerException($"js peer '{Name}' exited with code {code} before it was ready; stderr:\n{Stderr}"));
        foreach (var (_, tcs) in _pending)
        {
            tcs.TrySetException(ExitedException("?"));
        }

        lock (_eventsLock)
        {
            foreach (var (_, tcs) in _eventWaiters)
            {
                tcs.TrySetException(ExitedException("wait for event"));
            }
        }
    }

    private JsPeerException ExitedException(string command)
    {
        var code = _exited.Task.IsCompletedSuccessfully ? _exited.Task.Result.ToString(CultureInfo.InvariantCulture) : "?";
        return new JsPeerException($"js peer '{Name}' exited (code {code}) while running '{command}'; stderr tail:\n{StderrTail()}");
    }

    private void OnEvent(string name, JsonElement msg)
    {
        if (name == "ready")
        {
            _ready.TrySetResult(msg);
        }
        else if (name == "error")
        {
            _ready.TrySetException(new JsPeerException($"js peer '{Name}' failed to start: {Str(msg, "error")}; stderr:\n{Stderr}"));
        }

        List<TaskCompletionSource<JsonElement>> matched = [];
        lock (_eventsLock)
        {
            _events.Add(msg);
            foreach (var (predicate, tcs) in _eventWaiters)
            {
                bool hit;
                try
                {
                    hit = predicate(msg);
                }
                catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException)
                {
                    hit = false;
                }

                if (hit)
                {
                    matched.Add(tcs);
                }
            }
        }

        foreach (var tcs in matched)
        {
            tcs.TrySetResult(msg);
        }
    }

    private async Task ReadStderrAsync()
    {
        var reader = _process.StandardError;
        var buffer = new char[8192];
        try
        {
            int n;
            while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                AppendStderr(new string(buffer, 0, n));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            AppendStderr($"[harness] stderr read failed: {ex.Message}\n");
        }
    }

    private void AppendStderr(string text)
    {
        lock (_stderrLock)
        {
            _stderr.Append(text);
            if (_stderr.Length > MaxStderrChars)
            {
                _stderr.Remove(0, _stderr.Length - MaxStderrChars);
            }
        }
    }

    private string StderrTail(int chars = 4000)
    {
        var all = Stderr;
        return all.Length <= chars ? all : "…" + all[^chars..];
    }

    private static JsonObject Command(string name, string? target, params (string Key, object? Value)[] args)
    {
        var cmd = new JsonObject { ["cmd"] = name };
        if (target is not null)
        {
            cmd[target.StartsWith('/') ? "addr" : "peer"] = target;
        }

        foreach (var (key, value) in args)
        {
            if (value is not null)
            {
                cmd[key] = JsonSerializer.SerializeToNode(value, s_jsonOptions);
            }
        }

        return cmd;
    }

    private static long Ms(TimeSpan t) => (long)t.TotalMilliseconds;

    internal static bool IsOk(JsonElement reply) =>
        reply.ValueKind == JsonValueKind.Object && reply.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True;

    internal static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool Bool(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    private static double Double(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    private static long Long(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    private static IReadOnlyList<string> StringArray(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => x.GetString() ?? "").ToList()
            : [];

    private static IReadOnlyList<double> DoubleArray(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => x.GetDouble()).ToList()
            : [];
}
