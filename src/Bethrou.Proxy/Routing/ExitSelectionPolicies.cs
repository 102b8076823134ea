namespace Bethrou.Proxy.Routing;

/// <summary>Picks an exit for a new tunnel from the healthy ones.</summary>
public interface IExitSelectionPolicy
{
    string Name { get; }

    ExitState? Pick(IReadOnlyList<ExitState> healthy);
}

/// <summary>Names of the built-in strategies (config <c>routing.strategy</c>).</summary>
public static class ExitSelectionPolicies
{
    public const string Random = "random";
    public const string RoundRobin = "round-robin";
    public const string Fastest = "fastest";
    public const string LeastLoaded = "least-loaded";

    public static IReadOnlyList<string> Names { get; } = [Random, RoundRobin, Fastest, LeastLoaded];

    /// <exception cref="ArgumentException">Unknown strategy name (lists the valid ones).</exception>
    public static IExitSelectionPolicy Create(string name, System.Random? random = null)
    {
        var rng = random ?? System.Random.Shared;
        return name.ToLowerInvariant() switch
        {
            Random or "" => new RandomExitPolicy(rng),
            RoundRobin => new RoundRobinExitPolicy(),
            Fastest or "latency" => new FastestExitPolicy(rng),
            LeastLoaded => new LeastLoadedExitPolicy(rng),
            _ => throw new ArgumentException($"unknown routing strategy '{name}' (valid: {string.Join(", ", Names)})", nameof(name)),
        };
    }
}

internal sealed class RandomExitPolicy(System.Random random) : IExitSelectionPolicy
{
    public string Name => ExitSelectionPolicies.Random;

    public ExitState? Pick(IReadOnlyList<ExitState> healthy) =>
        healthy.Count == 0 ? null : healthy[random.Next(healthy.Count)];
}

internal sealed class RoundRobinExitPolicy : IExitSelectionPolicy
{
    private int _next = -1;

    public string Name => ExitSelectionPolicies.RoundRobin;

    public ExitState? Pick(IReadOnlyList<ExitState> healthy)
    {
        if (healthy.Count == 0)
        {
            return null;
        }
        var i = (uint)Interlocked.Increment(ref _next);
        return healthy[(int)(i % (uint)healthy.Count)];
    }
}

/// <summary>Lowest average ping RTT. Unmeasured exits are used only when nothing is measured yet.</summary>
internal sealed class FastestExitPolicy(System.Random random) : IExitSelectionPolicy
{
    public string Name => ExitSelectionPolicies.Fastest;

    public ExitState? Pick(IReadOnlyList<ExitState> healthy)
    {
        ExitState? best = null;
        double bestRtt = double.MaxValue;
        foreach (var e in healthy)
        {
            var rtt = e.AverageRttMs;
            if (rtt is not null && rtt.Value < bestRtt)
            {
                best = e;
                bestRtt = rtt.Value;
            }
        }
        return best ?? (healthy.Count == 0 ? null : healthy[random.Next(healthy.Count)]);
    }
}

/// <summary>Power of two choices on open streams.</summary>
internal sealed class LeastLoadedExitPolicy(System.Random random) : IExitSelectionPolicy
{
    public string Name => ExitSelectionPolicies.LeastLoaded;

    public ExitState? Pick(IReadOnlyList<ExitState> healthy)
    {
        switch (healthy.Count)
        {
            case 0:
                return null;
            case 1:
                return healthy[0];
        }
        var a = random.Next(healthy.Count);
        var b = random.Next(healthy.Count - 1);
        if (b >= a)
        {
            b++;
        }
        return healthy[a].OpenStreams <= healthy[b].OpenStreams ? healthy[a] : healthy[b];
    }
}
