using System.Globalization;

namespace Bethrou.Bench.Socks;

/// <summary>A parsed HTTP/1.1 request or response head (only the fields the benchmark needs).</summary>
internal sealed class HttpHead
{
    public required string StartLine { get; init; }
    public long? ContentLength { get; private set; }
    public bool Chunked { get; private set; }
    public bool ExpectContinue { get; private set; }
    public bool ConnectionClose { get; private set; }

    public static HttpHead Parse(string head)
    {
        var lines = head.Split("\r\n");
        var result = new HttpHead { StartLine = lines[0] };
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0)
            {
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                throw new HttpFormatException($"malformed header line `{line}`");
            }
            var name = line.AsSpan(0, colon).Trim();
            var value = line.AsSpan(colon + 1).Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    throw new HttpFormatException($"bad Content-Length `{value}`");
                }
                result.ContentLength = n;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                result.Chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
            {
                result.ExpectContinue = value.Equals("100-continue", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                result.ConnectionClose = value.Contains("close", StringComparison.OrdinalIgnoreCase);
            }
        }
        return result;
    }

    /// <summary>The status code of a response start line `HTTP/1.1 200 OK`.</summary>
    public int StatusCode()
    {
        var parts = StartLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            throw new HttpFormatException($"malformed status line `{StartLine}`");
        }
        return code;
    }
}
