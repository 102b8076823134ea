using System.IO.Pipelines;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Multistream;
using Bethrou.Libp2p.Muxing.Yamux;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Security.Noise;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Upgrade;

/// <summary>Upgrades a raw byte pipe: pnet → multistream(/noise) → Noise → muxer (early or multistream /yamux/1.0.0).</summary>
public sealed class ConnectionUpgrader
{
    private static readonly string[] SecurityProtocols = [NoiseSecurityTransport.ProtocolId];
    private static readonly string[] MuxerProtocols = [YamuxSession.ProtocolId];
    private readonly PreSharedKey? _psk;
    private readonly NoiseSecurityTransport _noise;
    private readonly YamuxOptions _yamux;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public ConnectionUpgrader(Crypto.Ed25519PrivateKey identity, PreSharedKey? psk, YamuxOptions yamux, ILogger logger, TimeProvider time)
    {
        _psk = psk;
        _noise = new NoiseSecurityTransport(identity, MuxerProtocols);
        _yamux = yamux;
        _logger = logger;
        _time = time;
    }

    public sealed record Result(SecureConnection Secure, YamuxSession Session);

    public ValueTask<Result> UpgradeOutboundAsync(IDuplexPipe raw, PeerId? expected, CancellationToken ct) =>
        UpgradeAsync(raw, initiator: true, expected, ct);

    public ValueTask<Result> UpgradeInboundAsync(IDuplexPipe raw, CancellationToken ct) =>
        UpgradeAsync(raw, initiator: false, expected: null, ct);

    private async ValueTask<Result> UpgradeAsync(IDuplexPipe raw, bool initiator, PeerId? expected, CancellationToken ct)
    {
        var stage = UpgradeStage.Pnet;
        try
        {
            var pipe = raw;
            if (_psk is not null)
            {
                pipe = await PnetProtector.ProtectAsync(raw, _psk, ct).ConfigureAwait(false);
            }
            stage = UpgradeStage.SecurityNegotiation;
            if (initiator)
            {
                await MultistreamSelect.SelectOneAsync(pipe, SecurityProtocols, ct).ConfigureAwait(false);
            }
            else
            {
                await MultistreamSelect.HandleAsync(pipe, SecurityProtocols, ct).ConfigureAwait(false);
            }
            stage = UpgradeStage.Security;
            var secure = initiator
                ? await _noise.SecureOutboundAsync(pipe, expected, ct).ConfigureAwait(false)
                : await _noise.SecureInboundAsync(pipe, ct).ConfigureAwait(false);
            if (secure.EarlyMuxer is null)
            {
                stage = UpgradeStage.MuxerNegotiation;
                if (initiator)
                {
                    await MultistreamSelect.SelectOneAsync(secure.Transport, MuxerProtocols, ct).ConfigureAwait(false);
                }
                else
                {
                    await MultistreamSelect.HandleAsync(secure.Transport, MuxerProtocols, ct).ConfigureAwait(false);
                }
            }
            else if (secure.EarlyMuxer != YamuxSession.ProtocolId)
            {
                throw new NegotiationFailedException($"noise early muxer negotiation chose unsupported '{secure.EarlyMuxer}'");
            }
            stage = UpgradeStage.Muxer;
            var session = new YamuxSession(secure.Transport, isClient: initiator, _yamux, _logger, _time);
            session.Start();
            return new Result(secure, session);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw new UpgradeException(stage, $"{Describe(stage)} handshake failed: timed out" + PskHint(stage));
        }
        catch (PeerIdMismatchException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new UpgradeException(stage, $"{Describe(stage)} handshake failed: {e.Message}" + PskHint(stage), e);
        }
    }

    private string PskHint(UpgradeStage stage) =>
        _psk is not null && stage is UpgradeStage.Pnet or UpgradeStage.SecurityNegotiation or UpgradeStage.Security
            ? " (this peer uses a private network: a different PSK on the other side, or a peer without a PSK, is the likely cause)"
            : "";

    public static string Describe(UpgradeStage stage) => stage switch
    {
        UpgradeStage.Transport => "transport",
        UpgradeStage.Pnet => "pnet",
        UpgradeStage.SecurityNegotiation => "security negotiation (multistream /noise)",
        UpgradeStage.Security => "noise",
        UpgradeStage.MuxerNegotiation => "muxer negotiation (multistream /yamux/1.0.0)",
        _ => "yamux",
    };
}
