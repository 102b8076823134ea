using System.Diagnostics;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Interop.Tests.Cli;

/// <summary>`bethrou psk …` and `bethrou identity …` as real processes.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bethrou-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsync(null, args);

    internal static async Task<(int Code, string Out, string Err)> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bethrou.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task AnUnknownIoSchedulingModeIsRefusedAtStartAndTheKnownOnesRun()
    {
        var (code, stdout, stderr) = await RunAsync(new Dictionary<string, string> { ["BETHROU_IO_SCHEDULING"] = "fast" },
            "psk", "generate", "--out", Path.Combine(_dir, "never.key"));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal("bethrou: BETHROU_IO_SCHEDULING: `fast` is not a scheduling mode (expected `inline` or `threadpool`)",
            stderr.TrimEnd());
        Assert.False(File.Exists(Path.Combine(_dir, "never.key")));
        foreach (var mode in new[] { "threadpool", "inline" })
        {
            var path = Path.Combine(_dir, $"{mode}.key");
            var run = await RunAsync(new Dictionary<string, string> { ["BETHROU_IO_SCHEDULING"] = mode }, "psk", "generate", "--out", path);
            Assert.Equal(0, run.Code);
            Assert.True(File.Exists(path));
        }
    }

    [Fact]
    public async Task PskGenerateWritesBase16FileWithMode0600AndRefusesToOverwrite()
    {
        var path = Path.Combine(_dir, "network.key");
        var (code, _, _) = await RunAsync("psk", "generate", "--out", path);
        Assert.Equal(0, code);
        var text = await File.ReadAllTextAsync(path);
        Assert.Matches("^/key/swarm/psk/1\\.0\\.0/\n/base16/\n[0-9a-f]{64}\n$", text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var key = PreSharedKey.Load(path);

        var again = await RunAsync("psk", "generate", "--out", path);
        Assert.Equal(2, again.Code);
        Assert.Equal($"bethrou: {path}: already exists; refusing to overwrite it", again.Err.Trim());
        Assert.Equal(key.Key.ToArray(), PreSharedKey.Load(path).Key.ToArray());
    }

    [Fact]
    public async Task IdentityGenerateAndShowAgree()
    {
        var path = Path.Combine(_dir, "node.key");
        var (code, stdout, _) = await RunAsync("identity", "generate", "--out", path);
        Assert.Equal(0, code);
        Assert.Equal(68, new FileInfo(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var bytes = await File.ReadAllBytesAsync(path);
        Assert.Equal(new byte[] { 0x08, 0x01, 0x12, 0x40 }, bytes[..4]);
        using var key = IdentityFile.Load(path);
        Assert.Equal(key.PeerId.ToString(), stdout.Trim());
        var show = await RunAsync("identity", "show", path);
        Assert.Equal(0, show.Code);
        Assert.Equal(key.PeerId.ToString(), show.Out.Trim());
    }

    [Theory]
    [InlineData("identity", "show", "missing.key", "missing.key: file not found")]
    [InlineData("identity", "show", "garbage.key", "garbage.key: not a libp2p identity key")]
    [InlineData("identity", "show", "rsa.key", "garbage.key: not a libp2p identity key")]
    [InlineData("psk", "show", "missing.key", "missing.key:")]
    [InlineData("psk", "show", "garbage.key", "garbage.key:")]
    public async Task UnreadableOrMalformedFilesGetOneLineAndExitCode2(string cmd, string sub, string file, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "garbage.key"), "this is not a key\n");
        // A well-formed private key protobuf of another type (RSA = 0) is refused with the type named.
        await File.WriteAllBytesAsync(Path.Combine(_dir, "rsa.key"), [0x08, 0x00, 0x12, 0x01, 0x00]);
        var path = Path.Combine(_dir, file);
        var (code, _, stderr) = await RunAsync(cmd, sub, path);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Trim().Split('\n'));
        if (file == "rsa.key")
        {
            Assert.Contains("rsa.key: not a libp2p identity key: identity key type is Rsa; only Ed25519 identities are supported", line, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(expected, line, StringComparison.Ordinal);
        }
    }
}
