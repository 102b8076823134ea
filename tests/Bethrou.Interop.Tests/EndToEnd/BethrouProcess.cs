using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// The real <c>bethrou</c> binary (bethrou.dll copied next to the test binaries) as a child process:
/// stdout and stderr are read line by line; tests wait for lines with deadlines. Disposing kills only this
/// process (by its own handle, with its child tree) if it is still running.
/// </summary>
public sealed partial class BethrouProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly List<(Regex Pattern, bool Stderr, TaskCompletionSource<Match> Tcs)> _waiters = [];
    private readonly Task _stdoutLoop;
    private readonly Task _stderrLoop;
    private readonly string _name;
    private int _disposed;

    private BethrouProcess(Process process, string name)
    {
        _process = process;
        _name = name;
        Id = process.Id;
        _stdoutLoop = Task.Run(() => ReadLoopAsync(process.StandardOutput, stderr: false));
        _stderrLoop = Task.Run(() => ReadLoopAsync(process.StandardError, stderr: true));
    }

    /// <summary>bethrou.dll in the test output directory.</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "bethrou.dll");

    public int Id { get; }

    public bool HasExited => Volatile.Read(ref _disposed) != 0 || _process.HasExited;

    public string Stdout
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _stdout);
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _stderr);
            }
        }
    }

    /// <summary>Both streams, for failure messages.</summary>
    public string Output => $"[{_name} pid {Id}] stdout:\n{Stdout}\nstderr:\n{Stderr}";

    /// <summary>Starts <c>dotnet bethrou.dll args…</c> in <paramref name="workingDirectory"/>; BETHROU_* variables
    /// of the test process are not inherited (only those in <paramref name="environment"/>).</summary>
    public static BethrouProcess Start(string workingDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string name = "bethrou")
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("BETHROU_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet " + Dll);
        return new BethrouProcess(process, name);
    }

    /// <summary>Runs a command to its end (bounded) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        await using var p = Start(workingDirectory, args, environment);
        var code = await p.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(60));
        return (code, p.Stdout, p.Stderr);
    }

    /// <summary>Waits for a line (stdout or stderr as chosen) matching <paramref name="pattern"/>; lines seen already count.</summary>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout, bool stderr = false)
    {
        var tcs = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            foreach (var line in stderr ? _stderr : _stdout)
            {
                if (pattern.Match(line) is { Success: true } m)
                {
                    return m;
                }
            }
            _waiters.Add((pattern, stderr, tcs));
        }
        try
        {
            var exited = _process.WaitForExitAsync();
            var done = await Task.WhenAny(tcs.Task, Task.WhenAll(exited, _stdoutLoop, _stderrLoop)).WaitAsync(timeout);
            if (done == tcs.Task)
            {
                return await tcs.Task;
            }
            throw new InvalidOperationException($"process exited (code {_process.ExitCode}) before printing a line matching /{pattern}/\n{Output}");
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no line matching /{pattern}/ within {timeout}\n{Output}");
        }
        finally
        {
            lock (_lock)
            {
                _waiters.RemoveAll(w => w.Tcs == tcs);
            }
        }
    }

    /// <summary>For <c>bethrou node</c>: waits for the printed full multiaddr (<c>/ip4/127.0.0.1/tcp/N/p2p/12D3KooW…</c>).</summary>
    public async Task<string> WaitForNodeAddressAsync(TimeSpan? timeout = null)
    {
        var m = await WaitForLineAsync(NodeAddressLine(), timeout ?? TimeSpan.FromSeconds(60));
        return m.Value;
    }

    /// <summary>For <c>bethrou client</c>: waits for "SOCKS5 proxy listening on 127.0.0.1:P" (or [::1]:P) and returns the endpoint.</summary>
    public async Task<IPEndPoint> WaitForSocksEndPointAsync(TimeSpan? timeout = null)
    {
        var m = await WaitForLineAsync(SocksLine(), timeout ?? TimeSpan.FromSeconds(60));
        return IPEndPoint.Parse(m.Groups["ep"].Value);
    }

    /// <summary>Waits for the process to exit (bounded) and returns its exit code; lets the readers drain.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"process did not exit within {timeout}\n{Output}");
        }
        await Task.WhenAll(_stdoutLoop, _stderrLoop).WaitAsync(TimeSpan.FromSeconds(10));
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM to this process (by its PID) with the system <c>kill</c> command.</summary>
    public async Task TerminateAsync()
    {
        var psi = new ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add("-TERM");
        psi.ArgumentList.Add(Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(psi)!;
        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {Id} failed: {await kill.StandardError.ReadToEndAsync()}");
        }
    }

    /// <summary>SIGKILL (this process and its children).</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (!_process.HasExited)
        {
            Kill();
        }
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await Task.WhenAll(_stdoutLoop, _stderrLoop).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
    }

    private async Task ReadLoopAsync(StreamReader reader, bool stderr)
    {
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                List<TaskCompletionSource<Match>> hits = [];
                List<Match> matches = [];
                lock (_lock)
                {
                    (stderr ? _stderr : _stdout).Add(line);
                    foreach (var w in _waiters)
                    {
                        if (w.Stderr == stderr && w.Pattern.Match(line) is { Success: true } m)
                        {
                            hits.Add(w.Tcs);
                            matches.Add(m);
                        }
                    }
                }
                for (var i = 0; i < hits.Count; i++)
                {
                    hits[i].TrySetResult(matches[i]);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    [GeneratedRegex(@"^/ip4/127\.0\.0\.1/tcp/\d+/p2p/12D3KooW\w+$")]
    private static partial Regex NodeAddressLine();

    [GeneratedRegex(@"^SOCKS5 proxy listening on (?<ep>\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-fA-F:.]+\]:\d+)")]
    private static partial Regex SocksLine();
}
