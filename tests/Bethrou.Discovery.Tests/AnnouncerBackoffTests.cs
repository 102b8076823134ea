using System.Text.RegularExpressions;
using Bethrou.Discovery.Tests.Infrastructure;
using Bethrou.Libp2p.Crypto;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Discovery.Tests;

/// <summary>With Redis down, the heartbeat backs off (0.5 s, 1 s, 2 s, … capped at the heartbeat) on virtual time.</summary>
public class AnnouncerBackoffTests
{
    [Fact]
    public async Task RedisDown_HeartbeatRetriesWithCappedBackoff_OnlyAsTimePasses()
    {
        await using var redis = await RedisServer.ReserveAsync(); // nothing listens on its port
        var options = Harness.Options(redis);
        options.Ttl = TimeSpan.FromSeconds(30);
        options.Heartbeat = TimeSpan.FromSeconds(5);
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20000));
        var log = new TestLog();
        await using var node = new RedisNodeAnnouncer(options, Ed25519PrivateKey.Generate(), [Harness.NextAddress()], log, time);
        await node.StartAsync();
        Assert.Equal(1, log.Count("AnnounceFailed"));

        // Each retry logs the delay before the next one; nothing happens until virtual time reaches it.
        var delays = new List<long>();
        var next = TimeSpan.FromMilliseconds(500);
        var advances = 0;
        for (var attempt = 2; attempt <= 7; attempt++)
        {
            // Advance by the announced delay until the retry happens (again if the loop armed its timer only after
            // an advance: the retry then comes one step later, never earlier).
            await Wait.UntilAsync(
                () =>
                {
                    if (log.Count("AnnounceRetryFailed") >= attempt - 1)
                    {
                        return true;
                    }
                    time.Advance(next);
                    advances++;
                    return false;
                },
                $"retry {attempt} happens");
            var line = log.Lines.Last(l => l.Id.Name == "AnnounceRetryFailed").Text;
            var ms = long.Parse(Regex.Match(line, @"next try in (\d+) ms").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            delays.Add(ms);
            next = TimeSpan.FromMilliseconds(ms);
        }
        Assert.Equal([1000L, 2000, 4000, 5000, 5000, 5000], delays);
        // No busy loop: never more attempts than steps of virtual time.
        var attempts = log.Count("AnnounceRetryFailed");
        Assert.True(attempts >= 6 && attempts <= advances, $"{attempts} attempts for {advances} steps of virtual time");
    }
}
