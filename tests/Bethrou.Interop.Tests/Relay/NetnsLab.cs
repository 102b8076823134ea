using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.Relay;

/// <summary>How the lab's two NAT routers behave.</summary>
internal enum NatKind
{
    /// <summary>MASQUERADE with a fresh random port per connection (address/port-dependent mapping, "symmetric"):
    /// observed addresses are useless for punching; unsolicited inbound SYNs are answered with RST by the router.</summary>
    Symmetric,

    /// <summary>MASQUERADE keeping the source port (endpoint-independent mapping) and a stealth firewall that drops
    /// unsolicited inbound TCP (typical home router): TCP hole punching can work.</summary>
    ConeStealth,
}

/// <summary>
/// A small simulated internet in Linux network namespaces (needs root, iproute2 and iptables):
/// <code>
///   a (10.1.0.2) ── ra [NAT: MASQUERADE] 203.0.113.2 ──┐
///                                                      pub 203.0.113.1 / 198.51.100.1 (relay, origin)
///   b (10.2.0.2) ── rb [NAT: MASQUERADE] 198.51.100.2 ─┘
/// </code>
/// pub routes between its two links but knows no route to 10.0.0.0/8, so a and b are reachable only through their
/// NATs' outbound mappings. Names are unique per lab; everything is deleted on dispose.
/// </summary>
internal sealed class NetnsLab : IAsyncDisposable
{
    public const string PubA = "203.0.113.1";
    public const string PubB = "198.51.100.1";
    public const string NatA = "203.0.113.2";
    public const string NatB = "198.51.100.2";
    public const string HostA = "10.1.0.2";
    public const string HostB = "10.2.0.2";

    private readonly ITestOutputHelper _output;
    private readonly List<LabProcess> _processes = [];
    private readonly List<string> _namespaces = [];

    private NetnsLab(string prefix, NatKind nat, ITestOutputHelper output)
    {
        Prefix = prefix;
        Nat = nat;
        _output = output;
    }

    public NatKind Nat { get; }

    public string Prefix { get; }

    public string Pub => Prefix + "pub";

    public string RouterA => Prefix + "ra";

    public string A => Prefix + "a";

    public string RouterB => Prefix + "rb";

    public string B => Prefix + "b";

    /// <summary>Why the lab cannot run here (null when it can): not root, no ip/iptables, or namespaces refused.</summary>
    public static async Task<string?> UnavailableReasonAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }
        var (code, uid, _) = await RunAsync("id", ["-u"]);
        if (code != 0 || uid.Trim() != "0")
        {
            return "network namespace tests need root (uid 0)";
        }
        foreach (var tool in new[] { "ip", "iptables", "curl", "python3", "ss" })
        {
            if ((await RunAsync("sh", ["-c", "command -v " + tool])).Code != 0)
            {
                return $"'{tool}' is not installed (scripts/setup-test-deps.sh installs it)";
            }
        }
        var probe = "btprobe" + Guid.NewGuid().ToString("N")[..6];
        var (add, _, addErr) = await RunAsync("ip", ["netns", "add", probe]);
        if (add != 0)
        {
            return "'ip netns add' is refused here: " + addErr.Trim();
        }
        try
        {
            var (nat, _, natErr) = await RunAsync("ip", ["netns", "exec", probe, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE"]);
            if (nat != 0)
            {
                return "iptables NAT is not available in a namespace: " + natErr.Trim();
            }
        }
        finally
        {
            await RunAsync("ip", ["netns", "del", probe]);
        }
        return null;
    }

    public static async Task<NetnsLab> CreateAsync(ITestOutputHelper output, NatKind nat)
    {
        var lab = new NetnsLab("bt" + Guid.NewGuid().ToString("N")[..6], nat, output);
        try
        {
            await lab.BuildAsync();
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    private async Task BuildAsync()
    {
        foreach (var ns in new[] { Pub, RouterA, A, RouterB, B })
        {
            await IpAsync("netns", "add", ns);
            _namespaces.Add(ns);
            await InAsync(ns, "ip", "link", "set", "lo", "up");
        }
        var p = Prefix;
        await LinkAsync(Pub, p + "pa", PubA + "/24", RouterA, p + "ap", NatA + "/24");
        await LinkAsync(Pub, p + "pb", PubB + "/24", RouterB, p + "bp", NatB + "/24");
        await LinkAsync(RouterA, p + "ra0", "10.1.0.1/24", A, p + "a0", HostA + "/24");
        await LinkAsync(RouterB, p + "rb0", "10.2.0.1/24", B, p + "b0", HostB + "/24");
        await InAsync(A, "ip", "route", "add", "default", "via", "10.1.0.1");
        await InAsync(B, "ip", "route", "add", "default", "via", "10.2.0.1");
        await InAsync(RouterA, "ip", "route", "add", "default", "via", PubA);
        await InAsync(RouterB, "ip", "route", "add", "default", "via", PubB);
        foreach (var ns in new[] { Pub, RouterA, RouterB })
        {
            await InAsync(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        }
        foreach (var (router, wan) in new[] { (RouterA, p + "ap"), (RouterB, p + "bp") })
        {
            if (Nat == NatKind.Symmetric)
            {
                await InAsync(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE", "--random-fully");
            }
            else
            {
                await InAsync(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE");
                await InAsync(router, "iptables", "-A", "INPUT", "-i", wan, "-p", "tcp", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP");
            }
        }
        _output.WriteLine($"netns lab {Prefix} ({Nat} NATs): a={HostA} behind NAT {NatA}, b={HostB} behind NAT {NatB}, pub={PubA}/{PubB}");
    }

    private async Task LinkAsync(string ns1, string if1, string addr1, string ns2, string if2, string addr2)
    {
        await IpAsync("link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2);
        await InAsync(ns1, "ip", "addr", "add", addr1, "dev", if1);
        await InAsync(ns2, "ip", "addr", "add", addr2, "dev", if2);
        await InAsync(ns1, "ip", "link", "set", if1, "up");
        await InAsync(ns2, "ip", "link", "set", if2, "up");
    }

    private static async Task IpAsync(params string[] args)
    {
        var (code, _, err) = await RunAsync("ip", args);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({code}): {err.Trim()}");
        }
    }

    /// <summary>Runs a command inside a namespace to completion; throws on a non-zero exit.</summary>
    public static async Task<string> InAsync(string ns, params string[] args)
    {
        var (code, stdout, err) = await RunAsync("ip", ["netns", "exec", ns, .. args]);
        if (code != 0)
        {
            throw new InvalidOperationException($"[{ns}] {string.Join(' ', args)} failed ({code}): {err.Trim()}");
        }
        return stdout;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in time");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a long-running process inside a namespace (ip netns exec replaces itself with it).</summary>
    public LabProcess Start(string ns, string name, params string[] args)
    {
        var process = LabProcess.Start(name, "ip", ["netns", "exec", ns, .. args]);
        _processes.Add(process);
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            p.Kill();
        }
        foreach (var p in _processes)
        {
            await p.WaitForExitAsync(TimeSpan.FromSeconds(10));
            p.Dispose();
        }
        foreach (var ns in _namespaces)
        {
            await RunAsync("ip", ["netns", "del", ns]);
        }
    }
}

/// <summary>A child process whose output lines are kept and can be awaited.</summary>
internal sealed class LabProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LabProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public static LabProcess Start(string name, string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var lab = new LabProcess(name, process);
        process.OutputDataReceived += (_, e) => lab.Add(lab._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => lab.Add(lab._stderr, e.Data);
        process.Exited += (_, _) => lab.Signal();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return lab;
    }

    private void Add(List<string> list, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lock)
        {
            list.Add(line);
        }
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        old.TrySetResult();
    }

    public IReadOnlyList<string> Stdout
    {
        get
        {
            lock (_lock)
            {
                return [.. _stdout];
            }
        }
    }

    public IReadOnlyList<string> Stderr
    {
        get
        {
            lock (_lock)
            {
                return [.. _stderr];
            }
        }
    }

    /// <summary>Waits until stdout (or stderr) holds at least <paramref name="count"/> lines matching; returns the last of them.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, CancellationToken ct, int count = 1, bool stderr = false)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var hits = (stderr ? _stderr : _stdout).Where(match).ToList();
                if (hits.Count >= count)
                {
                    return hits[count - 1];
                }
                changed = _changed.Task;
            }
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}) before the expected line.\nstdout:\n{string.Join('\n', Stdout)}\nstderr:\n{string.Join('\n', Stderr.TakeLast(40))}");
            }
            try
            {
                await changed.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name}: the expected line did not appear.\nstdout:\n{string.Join('\n', Stdout)}\nstderr:\n{string.Join('\n', Stderr.TakeLast(40))}");
            }
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void DumpTo(ITestOutputHelper output)
    {
        output.WriteLine($"---- {Name} stdout");
        foreach (var l in Stdout)
        {
            output.WriteLine(l);
        }
        output.WriteLine($"---- {Name} stderr (last 30)");
        foreach (var l in Stderr.TakeLast(30))
        {
            output.WriteLine(l);
        }
    }

    public void Dispose() => _process.Dispose();
}
