using System.Globalization;

namespace Bethrou.Bench.Socks;

/// <summary>CPU time and memory of process trees, read from /proc (Linux).</summary>
internal static class ProcStats
{
    /// <summary>The given processes and all their live descendants (sshd forks one per connection).</summary>
    public static List<int> Tree(IReadOnlyList<int> roots)
    {
        if (roots.Count == 0)
        {
            return [];
        }
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            var fields = StatFields(pid);
            if (fields is null)
            {
                continue;
            }
            var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
            if (!children.TryGetValue(ppid, out var list))
            {
                children[ppid] = list = [];
            }
            list.Add(pid);
        }
        var result = new List<int>();
        var queue = new Queue<int>(roots);
        var seen = new HashSet<int>();
        while (queue.Count > 0)
        {
            var p = queue.Dequeue();
            if (!seen.Add(p))
            {
                continue;
            }
            result.Add(p);
            if (children.TryGetValue(p, out var kids))
            {
                foreach (var k in kids)
                {
                    queue.Enqueue(k);
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Clock ticks of user+system time of the tree, including reaped children (cutime/cstime), so CPU of
    /// per-connection children that exit during the measurement is not lost.
    /// </summary>
    public static long CpuTicks(IReadOnlyList<int> roots)
    {
        long total = 0;
        foreach (var pid in Tree(roots))
        {
            var f = StatFields(pid);
            if (f is null)
            {
                continue;
            }
            // fields after "(comm)": [0]=state(3) ... utime(14) stime(15) cutime(16) cstime(17)
            for (var i = 11; i <= 14; i++)
            {
                total += long.Parse(f[i], CultureInfo.InvariantCulture);
            }
        }
        return total;
    }

    /// <summary>Sum over the tree of a /proc/pid/status kB field (VmRSS, VmHWM).</summary>
    public static long StatusKiB(IReadOnlyList<int> roots, string field)
    {
        long total = 0;
        foreach (var pid in Tree(roots))
        {
            total += StatusKiB(pid, field);
        }
        return total;
    }

    private static long StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal) && line.Length > field.Length && line[field.Length] == ':')
                {
                    var v = line.AsSpan(field.Length + 1).Trim();
                    if (v.EndsWith(" kB", StringComparison.Ordinal))
                    {
                        v = v[..^3];
                    }
                    return long.Parse(v, CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    /// <summary>The fields of /proc/pid/stat after the `(comm)` part; null if the process is gone.</summary>
    private static string[]? StatFields(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        var close = text.LastIndexOf(')');
        return close < 0 ? null : text[(close + 2)..].Split(' ');
    }
}

/// <summary>Samples the summed VmRSS of process trees on a dedicated thread and keeps the peak.</summary>
internal sealed class RssSampler : IDisposable
{
    private readonly IReadOnlyList<int> _pids;
    private readonly int _intervalMs;
    private readonly Thread _thread;
    private volatile bool _stop;

    public RssSampler(IReadOnlyList<int> pids, int intervalMs)
    {
        _pids = pids;
        _intervalMs = intervalMs;
        _thread = new Thread(Loop) { IsBackground = true, Name = "rss-sampler" };
        if (pids.Count > 0)
        {
            _thread.Start();
        }
    }

    public long PeakKiB { get; private set; }
    public int Samples { get; private set; }

    private void Loop()
    {
        while (!_stop)
        {
            Sample();
            Thread.Sleep(_intervalMs);
        }
    }

    private void Sample()
    {
        var v = ProcStats.StatusKiB(_pids, "VmRSS");
        Samples++;
        if (v > PeakKiB)
        {
            PeakKiB = v;
        }
    }

    public void Dispose()
    {
        if (_pids.Count == 0)
        {
            return;
        }
        _stop = true;
        _thread.Join();
        Sample();
    }
}
