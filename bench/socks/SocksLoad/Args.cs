using System.Globalization;

namespace Bethrou.Bench.Socks;

/// <summary>Minimal `--name value` option parser; unknown or malformed options are errors.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public Args(IReadOnlyList<string> args, int start)
    {
        for (var i = start; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                throw new UsageException($"expected `--option value`, got `{a}`");
            }
            _values[a[2..]] = args[++i];
        }
    }

    public string Str(string name, string? fallback = null)
    {
        _used.Add(name);
        if (_values.TryGetValue(name, out var v))
        {
            return v;
        }
        return fallback ?? throw new UsageException($"missing --{name}");
    }

    public long Long(string name, long? fallback = null)
    {
        _used.Add(name);
        if (_values.TryGetValue(name, out var v))
        {
            if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 0)
            {
                throw new UsageException($"--{name}: `{v}` is not a non-negative integer");
            }
            return n;
        }
        return fallback ?? throw new UsageException($"missing --{name}");
    }

    public int Int(string name, int? fallback = null)
    {
        var n = Long(name, fallback);
        if (n > int.MaxValue)
        {
            throw new UsageException($"--{name}: {n} is too large");
        }
        return (int)n;
    }

    public IReadOnlyList<int> Pids(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var v) || v.Length == 0)
        {
            return [];
        }
        var list = new List<int>();
        foreach (var p in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            {
                throw new UsageException($"--{name}: `{p}` is not a process id");
            }
            list.Add(pid);
        }
        return list;
    }

    /// <summary>Throws if an option was given that the command never asked for (catches typos).</summary>
    public void EnsureAllUsed()
    {
        foreach (var k in _values.Keys)
        {
            if (!_used.Contains(k))
            {
                throw new UsageException($"unknown option --{k}");
            }
        }
    }
}

internal sealed class UsageException(string message) : Exception(message);
