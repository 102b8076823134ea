using System.Globalization;
using System.Text;

namespace Bethrou.Discovery;

/// <summary>
/// Settings shared by <see cref="RedisNodeAnnouncer"/> (nodes) and <see cref="RedisNodeDirectory"/> (clients).
/// <para>
/// Redis layout for a topic <c>T</c> (all names derive from <see cref="Topic"/>):
/// <list type="bullet">
/// <item><c>T:node:&lt;peerId&gt;</c>: a string key per node holding its signed envelope (a libp2p PeerRecord), with a
/// TTL of <see cref="Ttl"/>, re-set every <see cref="Heartbeat"/>, deleted on graceful shutdown.</item>
/// <item><c>T:events</c>: pub/sub channel with JSON <c>{"type":"join"|"leave","envelope":"&lt;base64&gt;","ttl_ms":N}</c>.</item>
/// <item><c>T</c>: pub/sub channel of the Go Bethrou protocol: <c>{"action":"discover","reply":"&lt;channel&gt;"}</c>
/// answered with <c>{"id":"&lt;peer&gt;","addrs":["…/p2p/&lt;peer&gt;"]}</c> on the reply channel.</item>
/// </list>
/// </para>
/// </summary>
public sealed class RedisDiscoveryOptions
{
    /// <summary>The topic used when none is configured. (The Go node's default, its own peer id, matches no client, so it is not copied.)</summary>
    public const string DefaultTopic = "bethrou-nodes";

    public const string DefaultAddress = "redis://localhost:6379";

    /// <summary>
    /// Where Redis is: <c>redis://[user[:pass]@]host[:port][/db]</c>, <c>rediss://…</c> (TLS), a plain <c>host:port</c>,
    /// or a StackExchange.Redis configuration string (<c>h1:26379,h2:26379,serviceName=mymaster</c> for Sentinel,
    /// <c>n1:7000,n2:7001</c> for a cluster, which is detected by itself).
    /// </summary>
    public string Address { get; set; } = DefaultAddress;

    /// <summary>Redis ACL user; overrides the one in <see cref="Address"/> (Go's <c>--discover-user</c>).</summary>
    public string? User { get; set; }

    /// <summary>Redis password; overrides the one in <see cref="Address"/> (Go's <c>--discover-pass</c>). Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>The topic (Go's <c>--discover-topic</c> / <c>discovery.topic</c>).</summary>
    public string Topic { get; set; } = DefaultTopic;

    /// <summary>How long a node's record lives without a heartbeat (node side); how long a client waits for it.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a node refreshes its record (must be well below <see cref="Ttl"/>).</summary>
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client listens for replies to one Go-style discover request (Go's <c>discovery.timeout</c>).
    /// Replies are merged as they arrive: start-up never waits for this.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a client re-sends the Go-style discover request (Go nodes never announce themselves);
    /// a Go node that does not answer in 3 rounds in a row is dropped.</summary>
    public TimeSpan GoRequeryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether a client also sends Go-style discover requests (to find Go nodes). Nodes always answer them.</summary>
    public bool GoCompatibility { get; set; } = true;

    /// <summary>How often a client re-reads the whole set as a safety net (joins arrive by pub/sub, expiries are
    /// checked per node at their deadline; this only catches what a lost subscription missed).</summary>
    public TimeSpan FullRescanInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Granularity of the client's expiry checks: a killed node is dropped within its TTL plus about this.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Announce loopback, private (RFC 1918, ULA), CGNAT and link-local listen addresses too (labs, tests).
    /// Ignored when announce addresses are given: those are used as they are.</summary>
    public bool IncludePrivateAddresses { get; set; }

    /// <summary>A PEM/DER CA certificate file to trust for <c>rediss://</c> (besides the system store).</summary>
    public string? TlsCaFile { get; set; }

    /// <summary>Redis connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Maximum size of a pub/sub message or record we accept (larger ones are ignored).</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    internal string EventsChannel => Topic + ":events";

    internal string NodeKeyPrefix => Topic + ":node:";

    /// <summary>Every problem with these settings (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Address))
        {
            errors.Add("discovery address is empty (expected redis://host:6379, rediss://…, host:port or a StackExchange.Redis configuration string)");
        }
        else if (!RedisAddress.TryParse(Address, out _, out var err))
        {
            errors.Add($"discovery address {RedisAddress.Redact(Address)}: {err}");
        }
        if (string.IsNullOrWhiteSpace(Topic))
        {
            errors.Add("discovery topic is empty");
        }
        else if (Topic.Length > 200)
        {
            errors.Add($"discovery topic is {Topic.Length} characters long; at most 200 are allowed");
        }
        if (Ttl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"discovery ttl {Format(Ttl)} is below the minimum of 1s");
        }
        if (Heartbeat <= TimeSpan.Zero)
        {
            errors.Add($"discovery heartbeat {Format(Heartbeat)} must be positive");
        }
        else if (Heartbeat * 2 > Ttl)
        {
            errors.Add($"discovery heartbeat {Format(Heartbeat)} must be at most half the ttl {Format(Ttl)} so that one lost refresh does not expire a live node");
        }
        if (Timeout <= TimeSpan.Zero)
        {
            errors.Add($"discovery timeout {Format(Timeout)} must be positive");
        }
        if (GoRequeryInterval <= TimeSpan.Zero)
        {
            errors.Add($"discovery Go re-query interval {Format(GoRequeryInterval)} must be positive");
        }
        else if (Timeout > GoRequeryInterval)
        {
            errors.Add($"discovery timeout {Format(Timeout)} must not exceed the Go re-query interval {Format(GoRequeryInterval)}");
        }
        if (FullRescanInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"discovery full rescan interval {Format(FullRescanInterval)} is below the minimum of 1s");
        }
        if (CheckInterval < TimeSpan.FromMilliseconds(10) || CheckInterval > TimeSpan.FromSeconds(10))
        {
            errors.Add($"discovery check interval {Format(CheckInterval)} must be between 10ms and 10s");
        }
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add($"discovery connect timeout {Format(ConnectTimeout)} must be positive");
        }
        if (MaxMessageBytes < 1024)
        {
            errors.Add($"discovery max message size {MaxMessageBytes} is below the minimum of 1024 bytes");
        }
        if (TlsCaFile is not null && !File.Exists(TlsCaFile))
        {
            errors.Add($"discovery TLS CA file {TlsCaFile} does not exist");
        }
        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid Redis discovery settings: " + string.Join("; ", errors));
        }
    }

    /// <summary>A one-line summary with the password (in <see cref="Address"/> or <see cref="Password"/>) replaced by <c>*****</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("address=").Append(RedisAddress.Redact(Address));
        if (User is not null)
        {
            sb.Append(" user=").Append(User);
        }
        if (Password is not null)
        {
            sb.Append(" password=").Append(RedisAddress.Redacted);
        }
        sb.Append(" topic=").Append(Topic);
        sb.Append(" ttl=").Append(Format(Ttl)).Append(" heartbeat=").Append(Format(Heartbeat));
        sb.Append(" timeout=").Append(Format(Timeout));
        if (IncludePrivateAddresses)
        {
            sb.Append(" include_private=true");
        }
        return sb.ToString();
    }

    internal RedisDiscoveryOptions Clone() => (RedisDiscoveryOptions)MemberwiseClone();

    private static string Format(TimeSpan t) => t.TotalMilliseconds % 1000 == 0
        ? ((long)t.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
        : ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
}
