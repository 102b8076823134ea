using System.Diagnostics;
using StackExchange.Redis;

namespace Bethrou.Discovery.Tests.Infrastructure;

/// <summary>A 3-primary Redis Cluster on loopback (redis-server --cluster-enabled + redis-cli --cluster create).</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly DirectoryInfo _dir;

    private RedisCluster(DirectoryInfo dir, List<RedisServer> servers)
    {
        _dir = dir;
        Servers = servers;
    }

    public IReadOnlyList<RedisServer> Servers { get; }

    /// <summary>A StackExchange.Redis configuration string listing every node (it discovers the cluster itself).</summary>
    public string ConfigString => string.Join(",", Servers.Select(s => $"127.0.0.1:{s.Port}"));

    public static async Task<RedisCluster> StartAsync(int primaries = 3)
    {
        var dir = Directory.CreateTempSubdirectory("bethrou-redis-cluster-");
        var servers = new List<RedisServer>();
        try
        {
            for (var i = 0; i < primaries; i++)
            {
                servers.Add(await RedisServer.StartAsync(extraArgs:
                [
                    "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{i}.conf", "--dir", dir.FullName,
                    "--cluster-node-timeout", "2000",
                ]));
            }
            var psi = new ProcessStartInfo("redis-cli") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("--cluster");
            psi.ArgumentList.Add("create");
            foreach (var s in servers)
            {
                psi.ArgumentList.Add($"127.0.0.1:{s.Port}");
            }
            psi.ArgumentList.Add("--cluster-replicas");
            psi.ArgumentList.Add("0");
            psi.ArgumentList.Add("--cluster-yes");
            using (var p = Process.Start(psi)!)
            {
                var output = p.StandardOutput.ReadToEndAsync();
                var error = p.StandardError.ReadToEndAsync();
                await p.WaitForExitAsync();
                if (p.ExitCode != 0)
                {
                    throw new InvalidOperationException($"redis-cli --cluster create failed: {await output} {await error}");
                }
            }
            var cluster = new RedisCluster(dir, servers);
            foreach (var s in servers)
            {
                await using var admin = await Harness.AdminAsync(s);
                await Wait.UntilAsync(
                    async () => ((string?)await admin.GetServer("127.0.0.1", s.Port).ExecuteAsync("CLUSTER", "INFO"))!.Contains("cluster_state:ok", StringComparison.Ordinal),
                    $"the cluster node on port {s.Port} reports cluster_state:ok");
            }
            return cluster;
        }
        catch
        {
            foreach (var s in servers)
            {
                await s.DisposeAsync();
            }
            dir.Delete(recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Servers)
        {
            await s.DisposeAsync();
        }
        _dir.Delete(recursive: true);
    }
}
