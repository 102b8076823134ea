using System.Diagnostics;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// The main flow with real processes only: keys made by the CLI, <c>bethrou node</c>, <c>bethrou client</c>, and curl
/// with <c>--socks5-hostname</c> (the exit resolves the name) against a local HTTP origin; 1 GiB each way,
/// verified by SHA-256.
/// </summary>
[Collection(EndToEndCollection.Name)]
[Trait("Category", "Large")]
public sealed class CurlLargeTransferTests(ITestOutputHelper output)
{
    private const long OneGiB = 1L << 30;
    private static readonly TimeSpan s_transferTimeout = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task Curl_1GiB_down_and_1GiB_up_through_client_and_exit_processes()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();

        // Keys the way a user makes them.
        var psk = await BethrouProcess.RunAsync(ws.Dir, ["psk", "generate", "--out", "net.key"], ws.Environment());
        Assert.True(psk.ExitCode == 0, psk.Stderr);
        Assert.Matches("^Wrote private network key to net.key", psk.Stdout);
        var id = await BethrouProcess.RunAsync(ws.Dir, ["identity", "generate", "--out", "exit.key"], ws.Environment());
        Assert.True(id.ExitCode == 0, id.Stderr);
        var peerId = id.Stdout.Trim();
        Assert.StartsWith("12D3KooW", peerId, StringComparison.Ordinal);

        var node = ws.Start(["node", "--key", "net.key", "--listen", "/ip4/127.0.0.1/tcp/0", "--identity", "exit.key", "--allow-private"], name: "node");
        var addr = await node.WaitForNodeAddressAsync();
        Assert.EndsWith("/p2p/" + peerId, addr, StringComparison.Ordinal);
        var client = ws.Start(["client", "--key", "net.key", "--node", addr, "--listen", "127.0.0.1:0"], name: "client");
        var socks = await client.WaitForSocksEndPointAsync();
        await E2eWorkspace.WaitForExitUpAsync(client, addr);
        var proxy = $"{socks.Address}:{socks.Port}";

        // Download: the origin's name is resolved by the exit (localhost → 127.0.0.1, allowed by --allow-private).
        var downFile = ws.PathOf("down.bin");
        var sw = Stopwatch.StartNew();
        var down = await CurlRunner.RunAsync(s_transferTimeout, "--socks5-hostname", proxy, "-o", downFile, "-w", "%{http_code} %{size_download}",
            $"http://localhost:{origin.Port}/bytes/{OneGiB}");
        var downTime = sw.Elapsed;
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.Equal($"200 {OneGiB}", down.Stdout);
        var expected = DeterministicBytes.Sha256Hex(OneGiB);
        Assert.Equal(expected, await DeterministicBytes.FileSha256HexAsync(downFile));
        File.Delete(downFile);

        // Upload: curl streams the file as the POST body; the origin answers with the SHA-256 of what it received.
        // (--data-binary @file would be the obvious choice, but curl loads such a file into memory and refuses 1 GiB:
        // "option --data-binary: out of memory"; --upload-file streams it.)
        var upFile = ws.PathOf("up.bin");
        var upHash = await DeterministicBytes.WriteFileAsync(upFile, OneGiB, seed: 7);
        sw.Restart();
        var up = await CurlRunner.RunAsync(s_transferTimeout, "--socks5-hostname", proxy, "--upload-file", upFile, "-X", "POST",
            "-H", "Content-Type: application/octet-stream", $"http://localhost:{origin.Port}/upload");
        var upTime = sw.Elapsed;
        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Equal(upHash, up.Stdout);
        File.Delete(upFile);

        output.WriteLine($"1 GiB down: {downTime.TotalSeconds:0.0} s ({OneGiB / downTime.TotalSeconds / 1e6:0} MB/s); " +
                         $"1 GiB up: {upTime.TotalSeconds:0.0} s ({OneGiB / upTime.TotalSeconds / 1e6:0} MB/s)");

        Assert.False(client.HasExited, client.Output);
        Assert.False(node.HasExited, node.Output);
    }
}
