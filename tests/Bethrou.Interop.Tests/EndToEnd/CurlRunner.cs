using System.Diagnostics;
using System.Text;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>Runs the system curl (bounded by a deadline; on timeout only this curl process is killed).</summary>
public static class CurlRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"curl exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    /// <summary>Starts curl; the returned task completes with its exit code and output.</summary>
    public static async Task<Result> RunAsync(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("curl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        // No proxy from the environment: only what the test passes.
        foreach (var v in new[] { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy" })
        {
            psi.Environment.Remove(v);
        }
        psi.ArgumentList.Add("--silent");
        psi.ArgumentList.Add("--show-error");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start curl");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            try
            {
                p.Kill();
            }
            catch (InvalidOperationException)
            {
            }
            throw new TimeoutException($"curl {string.Join(' ', args)} did not finish within {timeout}; stderr: {await stderr}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
