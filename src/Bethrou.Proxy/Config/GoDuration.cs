using System.Globalization;
using System.Text;

namespace Bethrou.Proxy.Config;

/// <summary>
/// Go <c>time.ParseDuration</c> syntax: a sequence of decimal numbers with units, e.g. <c>30s</c>, <c>1m30s</c>,
/// <c>500ms</c>, <c>1.5h</c>, <c>2h45m</c>. Units: ns, us (µs, μs), ms, s, m, h. A bare <c>0</c> is zero.
/// Precision is .NET's 100 ns tick (nanoseconds are truncated).
/// </summary>
internal static class GoDuration
{
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "duration is empty";
            return false;
        }
        var s = text.AsSpan().Trim();
        var negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        if (s is "0")
        {
            error = "";
            return true;
        }
        if (s.IsEmpty)
        {
            error = $"invalid duration '{text}'";
            return false;
        }
        decimal totalTicks = 0;
        while (!s.IsEmpty)
        {
            var i = 0;
            var digits = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                digits += s[i] == '.' ? 0 : 1;
                i++;
            }
            if (digits == 0 || !decimal.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                error = $"invalid duration '{text}' (use e.g. 30s, 1m30s, 500ms)";
                return false;
            }
            s = s[i..];
            var u = 0;
            while (u < s.Length && !char.IsAsciiDigit(s[u]) && s[u] != '.')
            {
                u++;
            }
            if (u == 0)
            {
                error = $"invalid duration '{text}': missing unit (use e.g. 30s, 1m30s, 500ms)";
                return false;
            }
            var unit = s[..u];
            s = s[u..];
            decimal ticksPerUnit = unit switch
            {
                "ns" => 0.01m,
                "us" or "µs" or "μs" => 10m,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => -1m,
            };
            if (ticksPerUnit < 0)
            {
                error = $"invalid duration '{text}': unknown unit '{unit}' (valid units: ns, us, ms, s, m, h)";
                return false;
            }
            try
            {
                totalTicks += number * ticksPerUnit;
            }
            catch (OverflowException)
            {
                totalTicks = decimal.MaxValue;
            }
            if (totalTicks > TimeSpan.MaxValue.Ticks)
            {
                error = $"invalid duration '{text}': too large";
                return false;
            }
        }
        var ticks = (long)decimal.Truncate(totalTicks);
        value = TimeSpan.FromTicks(negative ? -ticks : ticks);
        error = "";
        return true;
    }

    /// <summary>Formats like Go's <c>Duration.String</c>: <c>1h30m0s</c>, <c>30s</c>, <c>1.5s</c>, <c>500ms</c>, <c>0s</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }
        var sb = new StringBuilder();
        var ticks = value.Ticks;
        if (ticks < 0)
        {
            sb.Append('-');
            ticks = -ticks;
        }
        if (ticks < TimeSpan.TicksPerSecond)
        {
            if (ticks % TimeSpan.TicksPerMillisecond == 0)
            {
                return sb.Append(CultureInfo.InvariantCulture, $"{ticks / TimeSpan.TicksPerMillisecond}ms").ToString();
            }
            return sb.Append(((decimal)ticks / 10).ToString(CultureInfo.InvariantCulture)).Append("µs").ToString();
        }
        var hours = ticks / TimeSpan.TicksPerHour;
        ticks %= TimeSpan.TicksPerHour;
        var minutes = ticks / TimeSpan.TicksPerMinute;
        ticks %= TimeSpan.TicksPerMinute;
        var seconds = (decimal)ticks / TimeSpan.TicksPerSecond;
        if (hours > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{hours}h");
        }
        if (hours > 0 || minutes > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{minutes}m");
        }
        sb.Append(seconds.ToString("0.#######", CultureInfo.InvariantCulture)).Append('s');
        return sb.ToString();
    }
}
