using System.Net;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Pnet;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// One test's world: a temp directory with a fresh network key, <c>BETHROU_STATE_DIR</c> inside it, and every
/// <c>bethrou</c> process the test started (all killed by PID, and the directory deleted, on dispose).
/// </summary>
public sealed class E2eWorkspace : IAsyncDisposable
{
    private readonly List<BethrouProcess> _processes = [];
    private readonly ITestOutputHelper? _output;
    private int _identities;

    public E2eWorkspace(ITestOutputHelper? output = null)
    {
        _output = output;
        Dir = Path.Combine(Path.GetTempPath(), "bethrou-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Dir);
        Directory.CreateDirectory(StateDir);
        Psk = PreSharedKey.Generate();
        KeyFile = Path.Combine(Dir, "network.key");
        File.WriteAllBytes(KeyFile, Psk.ToFileBytes());
    }

    public string Dir { get; }

    public string StateDir => Path.Combine(Dir, "state");

    public PreSharedKey Psk { get; }

    /// <summary>network.key (base16 PSK file, readable by Go and js too).</summary>
    public string KeyFile { get; }

    /// <summary>Variables every process of this workspace gets besides <c>BETHROU_STATE_DIR</c>.</summary>
    public Dictionary<string, string> CommonEnvironment { get; } = new(StringComparer.Ordinal);

    /// <summary>The environment every process gets (plus what a test adds).</summary>
    public Dictionary<string, string> Environment(IReadOnlyDictionary<string, string>? extra = null)
    {
        var env = new Dictionary<string, string>(CommonEnvironment, StringComparer.Ordinal) { ["BETHROU_STATE_DIR"] = StateDir };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        return env;
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>curl --socks5-hostname downloads <paramref name="size"/> bytes of the origin's <c>/bytes/N</c> through
    /// <paramref name="proxy"/>; asserts status, size and content hash. <paramref name="context"/> goes into the failure
    /// message (e.g. a peer's stderr).</summary>
    public async Task AssertCurlDownloadAsync(string proxy, int originPort, long size, TimeSpan timeout, string? context = null)
    {
        var file = PathOf("down.bin");
        var down = await CurlRunner.RunAsync(timeout, "--socks5-hostname", proxy, "-o", file, "-w", "%{http_code} %{size_download}",
            $"http://localhost:{originPort}/bytes/{size}");
        Assert.True(down.ExitCode == 0, down + (context is null ? "" : "\n" + context));
        Assert.Equal($"200 {size}", down.Stdout);
        Assert.Equal(DeterministicBytes.Sha256Hex(size), await DeterministicBytes.FileSha256HexAsync(file));
    }

    /// <summary>curl --socks5-hostname uploads <paramref name="size"/> deterministic bytes to the origin's <c>/upload</c>
    /// through <paramref name="proxy"/>; asserts the origin saw exactly them (it answers their hash).</summary>
    public async Task AssertCurlUploadAsync(string proxy, int originPort, long size, ulong seed, TimeSpan timeout)
    {
        var upFile = PathOf("up.bin");
        var upHash = await DeterministicBytes.WriteFileAsync(upFile, size, seed: seed);
        var up = await CurlRunner.RunAsync(timeout, "--socks5-hostname", proxy, "--data-binary", "@" + upFile, $"http://localhost:{originPort}/upload");
        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Equal(upHash, up.Stdout);
    }

    /// <summary>Writes a new identity file and returns its path.</summary>
    public string NewIdentityFile(string prefix = "node")
    {
        var path = Path.Combine(Dir, $"{prefix}-{Interlocked.Increment(ref _identities)}.key");
        using var key = Ed25519PrivateKey.Generate();
        IdentityFile.Write(path, key);
        return path;
    }

    public BethrouProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string name = "bethrou")
    {
        var p = BethrouProcess.Start(Dir, args, Environment(env), name);
        lock (_processes)
        {
            _processes.Add(p);
        }
        return p;
    }

    /// <summary>Starts <c>bethrou node</c> on 127.0.0.1:0 with a new identity and waits for its address.</summary>
    public async Task<(BethrouProcess Process, string Addr)> StartNodeAsync(params string[] extra)
    {
        var p = Start(["node", "--key", KeyFile, "--listen", "/ip4/127.0.0.1/tcp/0", "--identity", NewIdentityFile(), .. extra], name: "node");
        var addr = await p.WaitForNodeAddressAsync();
        return (p, addr);
    }

    /// <summary>Starts <c>bethrou client</c> on 127.0.0.1:0 with these exits and waits for the SOCKS endpoint.</summary>
    public async Task<(BethrouProcess Process, IPEndPoint Socks)> StartClientAsync(IEnumerable<string> nodes, params string[] extra)
    {
        var args = new List<string> { "client", "--key", KeyFile, "--listen", "127.0.0.1:0" };
        foreach (var n in nodes)
        {
            args.Add("--node");
            args.Add(n);
        }
        args.AddRange(extra);
        var p = Start(args, name: "client");
        var ep = await p.WaitForSocksEndPointAsync();
        return (p, ep);
    }

    /// <summary>Waits until the client process logs that an exit is up (it dials exits in the background).</summary>
    public static Task WaitForExitUpAsync(BethrouProcess client, string nodeAddr, TimeSpan? timeout = null)
    {
        var id = nodeAddr[(nodeAddr.LastIndexOf('/') + 1)..];
        return client.WaitForLineAsync(new System.Text.RegularExpressions.Regex($"Exit {id} is up"), timeout ?? TimeSpan.FromSeconds(60), stderr: true);
    }

    public async ValueTask DisposeAsync()
    {
        BethrouProcess[] all;
        lock (_processes)
        {
            all = [.. _processes];
        }
        foreach (var p in all)
        {
            try
            {
                await p.DisposeAsync();
                _output?.WriteLine(p.Output.Length > 20000 ? p.Output[^20000..] : p.Output);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException)
            {
                _output?.WriteLine($"disposing pid {p.Id}: {e.Message}");
            }
        }
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
