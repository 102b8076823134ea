using System.Net;
using System.Net.Sockets;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Proxy.Tests.Exit;

public sealed class ExitDialerTests
{
    /// <summary>
    /// A connector that records attempts. Addresses in <c>good</c> really connect to the loopback origin; the rest
    /// hang until canceled (a blackhole) or fail with the given error.
    /// </summary>
    private sealed class ScriptedConnector(int originPort, HashSet<IPAddress> good, Dictionary<IPAddress, SocketError>? fail = null)
    {
        public readonly List<IPAddress> Attempts = [];
        public readonly List<IPAddress> Canceled = [];
        private readonly Dictionary<IPAddress, TaskCompletionSource> _started = [];

        public Task Started(IPAddress address)
        {
            lock (_started)
            {
                if (!_started.TryGetValue(address, out var tcs))
                {
                    tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _started[address] = tcs;
                }
                return tcs.Task;
            }
        }

        public async ValueTask<Socket> ConnectAsync(IPEndPoint ep, CancellationToken ct)
        {
            lock (Attempts)
            {
                Attempts.Add(ep.Address);
            }
            _ = Started(ep.Address);
            lock (_started)
            {
                _started[ep.Address].TrySetResult();
            }
            if (good.Contains(ep.Address))
            {
                return await TcpConnectors.ConnectAsync(new IPEndPoint(IPAddress.Loopback, originPort), ct);
            }
            if (fail is not null && fail.TryGetValue(ep.Address, out var error))
            {
                throw new SocketException((int)error);
            }
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                lock (Canceled)
                {
                    Canceled.Add(ep.Address);
                }
                throw;
            }
            throw new InvalidOperationException("unreachable");
        }
    }

    private static readonly IPAddress V6a = IPAddress.Parse("2001:db8::a");
    private static readonly IPAddress V6b = IPAddress.Parse("2001:db8::b");
    private static readonly IPAddress V4a = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress V4b = IPAddress.Parse("192.0.2.11");

    [Fact]
    public void Interleaves_families_starting_with_the_first_answer()
    {
        Assert.Equal([V6a, V4a, V6b, V4b], ExitDialer.Interleave([V6a, V6b, V4a, V4b]));
        Assert.Equal([V4a, V6a, V4b, V6b], ExitDialer.Interleave([V4a, V4b, V6a, V6b]));
        Assert.Equal([V4a, V4b], ExitDialer.Interleave([V4a, V4b]));
        Assert.Equal([V6a, V4a, V6b], ExitDialer.Interleave([V6a, V6b, V4a]));
    }

    [Fact]
    public async Task Next_attempt_starts_after_the_connection_attempt_delay_and_the_winner_cancels_the_rest()
    {
        using var origin = new LoopbackOrigin();
        var time = new FakeTimeProvider();
        var connector = new ScriptedConnector(origin.Port, [V4a]);
        var resolver = new StaticResolver(new() { ["he.test"] = [V6a, V6b, V4a] });
        var dialer = new ExitDialer(new EgressPolicy(false), resolver, time, TimeSpan.FromMilliseconds(250), connector.ConnectAsync);

        var dial = dialer.DialAsync("he.test", 443, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask();
        await connector.Started(V6a);
        time.Advance(TimeSpan.FromMilliseconds(249));
        Assert.Equal([V6a], connector.Attempts);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await connector.Started(V4a); // interleaved: the A record goes second

        var result = await dial;
        Assert.True(result.Succeeded);
        Assert.Equal(V4a, result.RemoteEndPoint!.Address);
        result.Socket!.Dispose();
        Assert.Equal([V6a, V4a], connector.Attempts); // V6b never started
        Assert.Equal([V6a], connector.Canceled);
        using var accepted = await origin.AcceptAsync();
    }

    [Fact]
    public async Task A_failed_attempt_starts_the_next_one_at_once()
    {
        using var origin = new LoopbackOrigin();
        var time = new FakeTimeProvider(); // never advanced
        var connector = new ScriptedConnector(origin.Port, [V4a], new() { [V6a] = SocketError.NetworkUnreachable });
        var resolver = new StaticResolver(new() { ["he.test"] = [V6a, V4a] });
        var dialer = new ExitDialer(new EgressPolicy(false), resolver, time, TimeSpan.FromMilliseconds(250), connector.ConnectAsync);

        var result = await dialer.DialAsync("he.test", 443, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(result.Succeeded);
        result.Socket!.Dispose();
        Assert.Equal([V6a, V4a], connector.Attempts);
    }

    [Fact]
    public async Task All_attempts_failing_reports_the_most_telling_error()
    {
        var connector = new ScriptedConnector(0, [], new()
        {
            [V6a] = SocketError.NetworkUnreachable,
            [V4a] = SocketError.ConnectionRefused,
            [V6b] = SocketError.HostUnreachable,
        });
        var resolver = new StaticResolver(new() { ["he.test"] = [V6a, V6b, V4a] });
        var dialer = new ExitDialer(new EgressPolicy(false), resolver, new FakeTimeProvider(), null, connector.ConnectAsync);
        var result = await dialer.DialAsync("he.test", 443, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(ProxyErrorCode.ConnectionRefused, result.Error);
        Assert.Equal("dial tcp 192.0.2.10:443: connect: connection refused", result.Message);
        Assert.Equal(3, connector.Attempts.Count);
    }

    [Fact]
    public async Task Overall_deadline_covers_every_attempt()
    {
        var time = new FakeTimeProvider();
        var connector = new ScriptedConnector(0, []);
        var resolver = new StaticResolver(new() { ["slow.test"] = [V4a, V4b] });
        var dialer = new ExitDialer(new EgressPolicy(false), resolver, time, TimeSpan.FromMilliseconds(250), connector.ConnectAsync);
        var dial = dialer.DialAsync("slow.test", 80, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask();
        await connector.Started(V4a);
        time.Advance(TimeSpan.FromMilliseconds(250));
        await connector.Started(V4b);
        time.Advance(TimeSpan.FromMilliseconds(9749));
        Assert.False(dial.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await dial;
        Assert.Equal(ProxyErrorCode.Timeout, result.Error);
        Assert.Equal("dial tcp slow.test:80: i/o timeout", result.Message);
        Assert.Equal(2, connector.Canceled.Count);
    }

    [Fact]
    public async Task Only_refused_addresses_are_skipped()
    {
        using var origin = new LoopbackOrigin();
        var connector = new ScriptedConnector(origin.Port, [V4a]);
        var resolver = new StaticResolver(new() { ["mixed.test"] = [IPAddress.Parse("10.1.1.1"), IPAddress.Parse("::ffff:127.0.0.1"), V4a] });
        var dialer = new ExitDialer(new EgressPolicy(false), resolver, new FakeTimeProvider(), null, connector.ConnectAsync);
        var result = await dialer.DialAsync("mixed.test", 443, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(result.Succeeded);
        result.Socket!.Dispose();
        Assert.Equal([V4a], connector.Attempts);
    }

    [Fact]
    public async Task Caller_cancellation_throws()
    {
        var connector = new ScriptedConnector(0, []);
        var dialer = new ExitDialer(new EgressPolicy(false), null, new FakeTimeProvider(), null, connector.ConnectAsync);
        using var cts = new CancellationTokenSource();
        var dial = dialer.DialAsync("192.0.2.10", 80, TimeSpan.FromSeconds(10), cts.Token).AsTask();
        await connector.Started(V4a);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dial);
    }

    [Theory]
    [InlineData(SocketError.ConnectionRefused, "ConnectionRefused", "connection refused")]
    [InlineData(SocketError.HostUnreachable, "HostUnreachable", "no route to host")]
    [InlineData(SocketError.NetworkUnreachable, "NetworkUnreachable", "network is unreachable")]
    [InlineData(SocketError.TimedOut, "Timeout", "connection timed out")]
    [InlineData(SocketError.AccessDenied, "NotAllowed", "permission denied (blocked by a local firewall)")]
    public void Maps_socket_errors(SocketError error, string code, string text)
    {
        var (c, t, _) = ExitDialer.MapSocketError(error);
        Assert.Equal(code, c.ToString());
        Assert.Equal(text, t);
        // The Go-style text alone classifies the same way (for clients without "code").
        if (c != ProxyErrorCode.NotAllowed)
        {
            Assert.Equal(c, ProxyErrorCodes.ClassifyMessage("connect: " + t));
        }
    }
}
