using System.Diagnostics;
using System.Text;

namespace Bethrou.Interop.Tests.Harness;

/// <summary>Locates the repository and makes sure the js peer's npm dependencies are installed (once per process).</summary>
public static class JsInterop
{
    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);
    private static readonly object s_setupLock = new();
    private static Task? s_setup;

    /// <summary>The repository root: the first ancestor of the test binaries that holds Bethrou.slnx.</summary>
    public static string RepoRoot => s_repoRoot.Value;

    /// <summary>interop/js inside the repository.</summary>
    public static string JsDirectory => Path.Combine(RepoRoot, "interop", "js");

    /// <summary>interop/js/peer.mjs.</summary>
    public static string PeerScript => Path.Combine(JsDirectory, "peer.mjs");

    /// <summary>The node executable: $BETHROU_NODE if set, else "node" from PATH.</summary>
    public static string NodeExecutable => Environment.GetEnvironmentVariable("BETHROU_NODE") is { Length: > 0 } node ? node : "node";

    /// <summary>
    /// Runs scripts/setup-interop.sh once per test process (it is idempotent and returns at once when
    /// node_modules matches package-lock.json). Throws <see cref="JsPeerException"/> with the script's output on failure.
    /// </summary>
    public static Task EnsureInstalledAsync()
    {
        lock (s_setupLock)
        {
            // retry after a failure instead of caching it forever
            if (s_setup is null || s_setup.IsFaulted || s_setup.IsCanceled)
            {
                s_setup = Task.Run(RunSetupScriptAsync);
            }

            return s_setup;
        }
    }

    /// <summary>Writes a PSK file in the go/js base16 format (the only format js reads) and returns its path.</summary>
    public static string WritePskFile(string directory, ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException($"a PSK is 32 bytes, got {key.Length}", nameof(key));
        }

        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"swarm-{Guid.NewGuid():N}.key");
        var text = "/key/swarm/psk/1.0.0/\n/base16/\n" + Convert.ToHexStringLower(key) + "\n";
        File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Bethrou.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new JsPeerException($"could not find Bethrou.slnx above {AppContext.BaseDirectory}");
    }

    private static async Task RunSetupScriptAsync()
    {
        var script = Path.Combine(RepoRoot, "scripts", "setup-interop.sh");
        var psi = new ProcessStartInfo("bash")
        {
            WorkingDirectory = RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        using var process = Process.Start(psi) ?? throw new JsPeerException("could not start bash for scripts/setup-interop.sh");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new JsPeerException("scripts/setup-interop.sh did not finish within 5 minutes");
        }

        var output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
        if (process.ExitCode != 0)
        {
            throw new JsPeerException($"scripts/setup-interop.sh failed with exit code {process.ExitCode}:\n{output}");
        }
    }
}
