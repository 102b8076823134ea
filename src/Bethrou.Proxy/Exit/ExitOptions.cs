using System.Globalization;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Options;

namespace Bethrou.Proxy.Exit;

/// <summary>
/// Settings of the <c>/bethrou/proxy/1.0.0</c> exit handler.
/// Defaults differ from Go V2 (128 global / 8 per peer / 2 min idle): a browser behind one client easily holds
/// 100+ connections and a download manager or a load test 1,000+, so per peer is 2048 and global 8192 (each stream
/// costs one socket plus yamux buffers; the .NET runtime raises the soft file-descriptor limit to the hard limit at
/// start). There is no idle timeout:
/// a silent direction never kills a transfer.
/// </summary>
internal sealed class ExitOptions
{
    public const int DefaultMaxConcurrentStreams = 8192;
    public const int DefaultMaxConcurrentStreamsPerPeer = 2048;

    /// <summary>Open the address policy (loopback, RFC 1918, link-local, …) for labs and tests.</summary>
    public bool AllowPrivate { get; set; }

    /// <summary>Destination ports this exit never connects to (e.g. 25).</summary>
    public IList<int> DeniedPorts { get; set; } = new List<int>();

    /// <summary>Client peers allowed to use this exit; null means every peer that holds the network key.</summary>
    public IList<PeerId>? AllowedPeers { get; set; }

    public int MaxConcurrentStreams { get; set; } = DefaultMaxConcurrentStreams;

    public int MaxConcurrentStreamsPerPeer { get; set; } = DefaultMaxConcurrentStreamsPerPeer;

    /// <summary>Upper bound for resolve + connect; a request's <c>connect_timeout_ms</c> can only shorten it.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a new stream may take to deliver its request line.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Happy Eyeballs "connection attempt delay" (RFC 8305 §5 recommends 250 ms).</summary>
    public TimeSpan ConnectionAttemptDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Every problem, not just the first; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxConcurrentStreams < 1)
        {
            errors.Add(Invariant($"max concurrent streams must be at least 1 (got {MaxConcurrentStreams})"));
        }
        if (MaxConcurrentStreamsPerPeer < 1)
        {
            errors.Add(Invariant($"max concurrent streams per peer must be at least 1 (got {MaxConcurrentStreamsPerPeer})"));
        }
        else if (MaxConcurrentStreams >= 1 && MaxConcurrentStreamsPerPeer > MaxConcurrentStreams)
        {
            errors.Add(Invariant(
                $"max concurrent streams per peer ({MaxConcurrentStreamsPerPeer}) must not exceed max concurrent streams ({MaxConcurrentStreams})"));
        }
        if (DialTimeout <= TimeSpan.Zero)
        {
            errors.Add(Invariant($"dial timeout must be positive (got {DialTimeout})"));
        }
        if (RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add(Invariant($"request timeout must be positive (got {RequestTimeout})"));
        }
        if (ConnectionAttemptDelay < TimeSpan.FromMilliseconds(10) || ConnectionAttemptDelay > TimeSpan.FromSeconds(2))
        {
            errors.Add(Invariant($"connection attempt delay must be between 10ms and 2s (got {ConnectionAttemptDelay})"));
        }
        foreach (var port in DeniedPorts ?? [])
        {
            if (port is < 1 or > 65535)
            {
                errors.Add(Invariant($"denied port {port} is not a port number (1-65535)"));
            }
        }
        if (AllowedPeers is not null && AllowedPeers.Any(p => p is null))
        {
            errors.Add("allowed peers contains an empty entry");
        }
        return errors;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Hooks <see cref="ExitOptions.Validate"/> into <c>IOptions</c> (<c>ValidateOnStart</c>).</summary>
internal sealed class ExitOptionsValidator : IValidateOptions<ExitOptions>
{
    public ValidateOptionsResult Validate(string? name, ExitOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
