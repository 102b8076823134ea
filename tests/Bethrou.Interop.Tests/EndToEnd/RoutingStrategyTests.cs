using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Proxy.Client;
using Bethrou.Proxy.Routing;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// Two exits, each routing strategy, 40 requests through the real stack (client and exits in-process so the test can
/// see which exit served each request), then one exit dies: every new request still succeeds through the other.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class RoutingStrategyTests(ITestOutputHelper output)
{
    private const int Requests = 40;
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task RoundRobin_alternates_exactly_and_fails_over()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await using var world = await World.StartAsync(ExitSelectionPolicies.RoundRobin, output);
        var served = await world.RunAsync(Requests, cts.Token);
        output.WriteLine(string.Concat(served.Select(s => s == world.A.Id ? 'A' : 'B')));
        for (var i = 1; i < served.Count; i++)
        {
            Assert.NotEqual(served[i - 1], served[i]);
        }
        Assert.Equal(Requests / 2, served.Count(s => s == world.A.Id));
        await world.KillAndCheckFailoverAsync(world.B, cts.Token);
    }

    [Fact]
    public async Task Random_uses_both_exits_and_fails_over()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        await using var world = await World.StartAsync(ExitSelectionPolicies.Random, output);
        var served = await world.RunAsync(Requests, cts.Token);
        var a = served.Count(s => s == world.A.Id);
        output.WriteLine($"random: A {a}, B {Requests - a}");
        // P(all 40 on one exit) = 2^-39.
        Assert.InRange(a, 1, Requests - 1);
        await world.KillAndCheckFailoverAsync(world.B, cts.Token);
    }

    [Fact]
    public async Task Fastest_picks_the_exit_with_the_lowest_measured_rtt_and_fails_over()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // Exit B is reached through a relay that adds 100 ms each way, so its ping RTT is at least 200 ms.
        // The health interval is long so that the RTTs measured when the exits came up stay fixed during the run.
        var delay = TimeSpan.FromMilliseconds(100);
        await using var world = await World.StartAsync(ExitSelectionPolicies.Fastest, output, health: "1h", delayB: delay);
        var rttA = world.StateOf(world.A).AverageRttMs;
        var rttB = world.StateOf(world.B).AverageRttMs;
        output.WriteLine($"measured rtt: A {rttA:0.00} ms, B (delayed) {rttB:0.00} ms");
        Assert.NotNull(rttA);
        Assert.NotNull(rttB);
        Assert.True(rttB >= 2 * delay.TotalMilliseconds, $"B's rtt {rttB} ms is below the relay's added 2 x {delay.TotalMilliseconds} ms");
        var fastest = rttA <= rttB ? world.A : world.B;

        var served = await world.RunAsync(Requests, cts.Token);
        Assert.All(served, s => Assert.Equal(fastest.Id, s));
        // The RTTs did not change during the run, so the choice was the lowest measured one at every pick.
        Assert.Equal(rttA, world.StateOf(world.A).AverageRttMs);
        Assert.Equal(rttB, world.StateOf(world.B).AverageRttMs);

        // Kill the preferred exit: the other one takes over.
        await world.KillAndCheckFailoverAsync(fastest, cts.Token, requests: 10);
    }

    [Fact]
    public async Task LeastLoaded_sends_new_tunnels_to_the_exit_with_fewer_open_ones_and_fails_over()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        const int held = 4;
        // Start with exit A only and hold tunnels open on it.
        await using var world = await World.StartAsync(ExitSelectionPolicies.LeastLoaded, output, startWithB: false);
        var holders = new List<Socket>();
        try
        {
            for (var i = 0; i < held; i++)
            {
                // CONNECT to the origin and send nothing: the origin waits for a request, so the tunnel stays open.
                var (reply, s) = await RawSocks.RequestAsync(world.Client.SocksEndPoint, RawSocks.Address(IPAddress.Loopback, world.Origin.Port), cts.Token);
                holders.Add(s);
                Assert.Equal(0, reply);
            }
            Assert.Equal(held, world.StateOf(world.A).OpenStreams);

            // Now B joins: every new tunnel goes to B while A holds more open tunnels.
            await world.AddBAsync(cts.Token);
            var served = await world.RunAsync(Requests, cts.Token);
            Assert.All(served, s => Assert.Equal(world.B.Id, s));
            Assert.Equal(held, world.StateOf(world.A).OpenStreams);
        }
        finally
        {
            foreach (var s in holders)
            {
                s.Dispose();
            }
        }

        // With the held tunnels closed both exits are equally loaded again: both are used.
        await Poll.UntilAsync(() => world.StateOf(world.A).OpenStreams == 0, "A's held tunnels to close", cts.Token);
        var after = await world.RunAsync(Requests, cts.Token);
        var a = after.Count(s => s == world.A.Id);
        output.WriteLine($"least-loaded after release: A {a}, B {Requests - a}");
        Assert.InRange(a, 1, Requests - 1);

        await world.KillAndCheckFailoverAsync(world.A, cts.Token);
    }

    [Fact]
    public async Task An_exit_that_stops_answering_is_skipped_after_the_attempt_timeout_and_marked_unhealthy()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // B is behind a relay that can turn into a black hole; health checks are off (1h) so that the request path
        // itself must notice, and round-robin makes the next-but-one request pick B.
        await using var world = await World.StartAsync(ExitSelectionPolicies.RoundRobin, output, health: "1h", delayB: TimeSpan.Zero, timeout: "2s");
        var served = await world.RunAsync(2, cts.Token);
        Assert.Contains(world.A.Id, served);
        Assert.Contains(world.B.Id, served);
        var down = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        world.Client.Pool.HealthChanged += e =>
        {
            if (e.Id == world.B.Id && !e.IsHealthy)
            {
                down.TrySetResult(e.LastError);
            }
        };
        world.Relay!.Freeze();
        try
        {
            // Two more requests: one of them picks B first, gets no answer within timeout + 2 s, and is carried by A.
            served = await world.RunAsync(2, cts.Token);
            Assert.All(served, s => Assert.Equal(world.A.Id, s));
            Assert.False(world.StateOf(world.B).IsHealthy);
            // Taken out by the failed attempt itself (the health loop is off).
            Assert.True(down.Task.IsCompleted);
            var reason = await down.Task;
            output.WriteLine($"frozen exit: {reason}");
            Assert.Equal("no answer within 4 s", reason);
        }
        finally
        {
            world.Relay!.Thaw();
        }
    }

    [Fact]
    public async Task A_silent_exit_is_taken_out_by_the_health_check_without_any_request()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // Health every 1 s with a 2 s ping timeout; B goes silent (connection open, no bytes) and no request is made:
        // only the health loop can notice.
        await using var world = await World.StartAsync(ExitSelectionPolicies.RoundRobin, output, health: "1s", delayB: TimeSpan.Zero, timeout: "2s");
        // The reason at the moment B goes down (LastError changes later: the failed probe then closes the connection).
        var down = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        world.Client.Pool.HealthChanged += e =>
        {
            if (e.Id == world.B.Id && !e.IsHealthy)
            {
                down.TrySetResult(e.LastError);
            }
        };
        var sw = Stopwatch.StartNew();
        world.Relay!.Freeze();
        try
        {
            var reason = await down.Task.WaitAsync(cts.Token);
            output.WriteLine($"silent exit marked unhealthy {sw.ElapsedMilliseconds} ms after it went silent: {reason}");
            Assert.Equal("no answer within 2 s", reason);
            // Every request now goes to A without trying B.
            var served = await world.RunAsync(6, cts.Token);
            Assert.All(served, s => Assert.Equal(world.A.Id, s));
        }
        finally
        {
            world.Relay!.Thaw();
        }
        // When B answers again it is put back.
        Assert.True(await world.Client.Pool.WaitForHealthyAsync(2, TimeSpan.FromSeconds(60), cts.Token), world.Describe());
    }

    /// <summary>Two in-process exits, an in-process client and an HTTP origin.</summary>
    private sealed class World : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly string _addrB;
        private readonly DelayRelay? _relay;

        private World(PreSharedKey psk, InProcessExit a, InProcessExit b, DelayRelay? relay, string addrB, ProxyClient client, HttpOrigin origin, ITestOutputHelper output)
        {
            Psk = psk;
            A = a;
            B = b;
            _relay = relay;
            _addrB = addrB;
            Client = client;
            Origin = origin;
            _output = output;
        }

        public PreSharedKey Psk { get; }

        public InProcessExit A { get; }

        public InProcessExit B { get; }

        public ProxyClient Client { get; }

        public HttpOrigin Origin { get; }

        public DelayRelay? Relay => _relay;

        public static async Task<World> StartAsync(string strategy, ITestOutputHelper output, string health = "1s", TimeSpan? delayB = null,
            bool startWithB = true, string timeout = "5s")
        {
            var psk = PreSharedKey.Generate();
            var a = await InProcessExit.StartAsync(psk);
            var b = await InProcessExit.StartAsync(psk);
            var relay = delayB is { } d ? new DelayRelay(b.Port, d) : null;
            var addrB = relay is null ? b.Addr : b.AddrVia(relay.Port);
            if (relay is not null)
            {
                // B advertises only the delaying relay in identify, so the client never learns (and redials) B's own
                // port behind the test's back when B is frozen.
                b.Host.AnnounceAddresses.Add(Bethrou.Libp2p.Multiformats.Multiaddress.Parse(addrB).WithoutPeerId());
            }
            var nodes = startWithB ? new[] { a.Addr, addrB } : [a.Addr];
            var client = await InProcessExit.StartClientAsync(psk, nodes, strategy, health, timeout);
            var world = new World(psk, a, b, relay, addrB, client, new HttpOrigin(), output);
            Assert.True(await client.Pool.WaitForHealthyAsync(nodes.Length, TimeSpan.FromSeconds(60)), "exits did not come up: " + world.Describe());
            return world;
        }

        public ExitState StateOf(InProcessExit exit) => Client.Pool.TryGet(exit.Id) ?? throw new InvalidOperationException("exit not in the pool");

        public async Task AddBAsync(CancellationToken ct)
        {
            Client.Pool.AddOrUpdate(B.Id, [Multiaddress.Parse(_addrB)], ExitSource.Static);
            Assert.True(await Client.Pool.WaitForHealthyAsync(2, TimeSpan.FromSeconds(60), ct), "B did not come up: " + Describe());
        }

        /// <summary>Sends <paramref name="count"/> HTTP requests one after another; returns which exit served each.</summary>
        public async Task<List<PeerId>> RunAsync(int count, CancellationToken ct)
        {
            var served = new List<PeerId>();
            for (var i = 0; i < count; i++)
            {
                var before = Client.Pool.Exits.ToDictionary(e => e.Id, e => e.TunnelsOpened);
                var size = 1000 + i;
                var (reply, body) = await RawSocks.HttpGetAsync(Client.SocksEndPoint, RawSocks.Address(IPAddress.Loopback, Origin.Port), $"/bytes/{size}", ct);
                Assert.True(reply == 0, $"request {i}: SOCKS reply {reply}; {Describe()}");
                var expected = new byte[size];
                DeterministicBytes.Fill(expected, 0);
                Assert.Equal(expected, body);
                var grew = Client.Pool.Exits.Where(e => e.TunnelsOpened != before.GetValueOrDefault(e.Id)).ToList();
                Assert.True(grew.Count == 1, $"request {i}: {grew.Count} exits counted a tunnel");
                served.Add(grew[0].Id);
            }
            return served;
        }

        /// <summary>Kills <paramref name="victim"/>; every following request succeeds through the other exit, and the
        /// victim is marked unhealthy.</summary>
        public async Task KillAndCheckFailoverAsync(InProcessExit victim, CancellationToken ct, int requests = 20)
        {
            var survivor = victim == A ? B : A;
            var down = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
            var sw = Stopwatch.StartNew();
            void OnHealth(ExitState e)
            {
                if (e.Id == victim.Id && !e.IsHealthy)
                {
                    down.TrySetResult(sw.Elapsed);
                }
            }
            Client.Pool.HealthChanged += OnHealth;
            try
            {
                await victim.DisposeAsync();
                var served = await RunAsync(requests, ct);
                Assert.All(served, s => Assert.Equal(survivor.Id, s));
                var after = await down.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
                _output.WriteLine($"after the kill: {requests}/{requests} requests through the survivor; victim marked unhealthy {after.TotalMilliseconds:0} ms after the kill ({StateOf(victim).LastError})");
                Assert.False(StateOf(victim).IsHealthy);
                Assert.True(StateOf(survivor).IsHealthy);
            }
            finally
            {
                Client.Pool.HealthChanged -= OnHealth;
            }
        }

        public string Describe() => string.Join("; ", Client.Pool.Exits.Select(e =>
            $"{(e.Id == A.Id ? "A" : "B")} healthy={e.IsHealthy} rtt={e.AverageRttMs} open={e.OpenStreams} tunnels={e.TunnelsOpened} err={e.LastError}"));

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await A.DisposeAsync();
            await B.DisposeAsync();
            if (_relay is not null)
            {
                await _relay.DisposeAsync();
            }
            await Origin.DisposeAsync();
        }
    }
}
