using System.Buffers;
using System.Security.Cryptography;
using Bethrou.Libp2p.Host;

namespace Bethrou.Libp2p.Protocols.Ping;

/// <summary>/ipfs/ping/1.0.0: the dialer writes 32 random bytes, the listener echoes them.</summary>
public static class PingProtocol
{
    public const string ProtocolId = "/ipfs/ping/1.0.0";
    public const int PayloadSize = 32;

    /// <summary>Echoes 32-byte pings until the remote half-closes.</summary>
    public static async Task HandleAsync(StreamContext s, CancellationToken ct)
    {
        while (true)
        {
            var r = await s.Input.ReadAtLeastAsync(PayloadSize, ct).ConfigureAwait(false);
            if (r.Buffer.Length < PayloadSize)
            {
                s.Input.AdvanceTo(r.Buffer.End);
                await s.Output.CompleteAsync().ConfigureAwait(false);
                return;
            }
            var ping = r.Buffer.Slice(0, PayloadSize);
            foreach (var seg in ping)
            {
                s.Output.Write(seg.Span);
            }
            s.Input.AdvanceTo(ping.End);
            await s.Output.FlushAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one ping on an open stream and returns the round trip time.</summary>
    /// <exception cref="IOException">The echo did not match or the stream ended.</exception>
    public static async ValueTask<TimeSpan> PingOnceAsync(StreamContext s, TimeProvider time, CancellationToken ct)
    {
        var payload = new byte[PayloadSize];
        RandomNumberGenerator.Fill(payload);
        var start = time.GetTimestamp();
        await s.Output.WriteAsync(payload, ct).ConfigureAwait(false);
        var r = await s.Input.ReadAtLeastAsync(PayloadSize, ct).ConfigureAwait(false);
        var elapsed = time.GetElapsedTime(start);
        if (r.Buffer.Length < PayloadSize)
        {
            s.Input.AdvanceTo(r.Buffer.End);
            throw new IOException("ping: stream ended before the 32-byte echo");
        }
        var echoed = r.Buffer.Slice(0, PayloadSize).ToArray();
        s.Input.AdvanceTo(r.Buffer.GetPosition(PayloadSize));
        if (!echoed.AsSpan().SequenceEqual(payload))
        {
            throw new IOException("ping: echo does not match what was sent");
        }
        await s.Output.CompleteAsync().ConfigureAwait(false);
        return elapsed;
    }
}
