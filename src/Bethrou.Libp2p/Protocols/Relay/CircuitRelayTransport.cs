using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Protocols.Relay;

/// <summary>
/// Dials <c>&lt;relay&gt;/p2p-circuit/p2p/&lt;target&gt;</c>: connects to the relay (reusing an open connection),
/// sends HOP CONNECT and, once the relay answers OK, runs the ordinary upgrade (pnet, Noise, yamux) over the hop
/// stream, as the initiator. The connection is marked limited (relayed).
/// </summary>
public sealed class CircuitRelayTransport : IHostTransport
{
    /// <summary>Bound on the CONNECT round trip once the relay connection is up (go: 1 min, js: 30 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public bool CanDial(Multiaddress address) =>
        address.IsRelayed && address.SplitCircuit() is { Target: not null };

    /// <exception cref="RelayException">The relay refused (its status is in <see cref="RelayException.Status"/>) or answered garbage.</exception>
    /// <exception cref="IOException">The relay could not be reached, or the upgrade over the circuit failed.</exception>
    public async ValueTask<Libp2pConnection> DialAsync(Libp2pHost host, Multiaddress address, CancellationToken ct)
    {
        var split = address.SplitCircuit() ?? throw new IOException($"{address} is not a relay circuit address");
        var target = split.Target ?? throw new IOException($"{address} names no target peer after /p2p-circuit");
        var relayAddress = split.Relay;
        if (relayAddress.PeerId == target)
        {
            throw new IOException($"{address}: the relay and the target are the same peer");
        }
        var relayConn = await Dcutr.PortReuseConnect.ConnectAsync(host, relayAddress, ct).ConfigureAwait(false);
        if (relayConn.IsLimited)
        {
            throw new IOException($"the only connection to relay {relayConn.RemotePeer} is itself relayed; refusing to nest circuits");
        }
        var relayId = relayConn.RemotePeer;
        var hop = await host.NewStreamAsync(relayConn, RelayProtocol.HopProtocolId, ct).ConfigureAwait(false);
        HopMessage answer;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(ConnectTimeout);
            try
            {
                await RelayCodec.WriteAsync(hop.Output, HopMessage.Connect(target), cts.Token).ConfigureAwait(false);
                answer = await RelayCodec.ReadHopAsync(hop.Input, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"relay {relayId} did not answer CONNECT to {target} within {ConnectTimeout.TotalSeconds:0.#} s");
            }
            if (answer.Type != HopMessageType.Status)
            {
                throw new RelayException(RelayStatus.UnexpectedMessage, $"relay {relayId} answered CONNECT with {answer.Type} instead of STATUS");
            }
            if (answer.Status != RelayStatus.Ok)
            {
                var status = answer.Status ?? RelayStatus.Unused;
                throw new RelayException(status, $"relay {relayId} refused the circuit to {target}: {Describe(status)}");
            }
        }
        catch
        {
            hop.Reset();
            await hop.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (answer.Limit is { } limit)
        {
            RelayLog.RelayLimits(host.Logger, relayId, limit.Duration, limit.Data);
        }
        var local = relayAddress.WithPeerId(relayId).Encapsulate("/p2p-circuit");
        var remote = local.Encapsulate("/p2p/" + target);
        var conn = await host.UpgradeOutboundAsync(hop, local, remote, target, () => hop.DisposeAsync(), isLimited: true, ct).ConfigureAwait(false);
        RelayLog.Dialed(host.Logger, target, relayAddress);
        return conn;
    }

    internal static string Describe(RelayStatus status) => status switch
    {
        RelayStatus.NoReservation => "NO_RESERVATION (the target holds no reservation on this relay)",
        RelayStatus.ResourceLimitExceeded => "RESOURCE_LIMIT_EXCEEDED",
        RelayStatus.PermissionDenied => "PERMISSION_DENIED",
        RelayStatus.ConnectionFailed => "CONNECTION_FAILED (the relay could not reach the target)",
        RelayStatus.ReservationRefused => "RESERVATION_REFUSED",
        RelayStatus.MalformedMessage => "MALFORMED_MESSAGE",
        RelayStatus.UnexpectedMessage => "UNEXPECTED_MESSAGE",
        RelayStatus.Unused => "no status",
        _ => status.ToString(),
    };
}
