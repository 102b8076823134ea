using System.IO.Pipelines;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Security;

/// <summary>The result of a security handshake: an authenticated, encrypted duplex channel and who is on the other end.</summary>
public sealed class SecureConnection
{
    public SecureConnection(IDuplexPipe transport, PeerId localPeer, PeerId remotePeer, PublicKey remotePublicKey, string? earlyMuxer)
    {
        Transport = transport ?? throw new ArgumentNullException(nameof(transport));
        LocalPeer = localPeer ?? throw new ArgumentNullException(nameof(localPeer));
        RemotePeer = remotePeer ?? throw new ArgumentNullException(nameof(remotePeer));
        RemotePublicKey = remotePublicKey ?? throw new ArgumentNullException(nameof(remotePublicKey));
        EarlyMuxer = earlyMuxer;
    }

    /// <summary>Plaintext application bytes; encryption happens underneath. Completing <c>Transport.Output</c> closes the
    /// underlying connection's write side; the remote closing its side completes <c>Transport.Input</c>.</summary>
    public IDuplexPipe Transport { get; }

    public PeerId LocalPeer { get; }

    public PeerId RemotePeer { get; }

    public PublicKey RemotePublicKey { get; }

    /// <summary>The muxer both sides agreed on inside the handshake, or null when the muxer must be negotiated with
    /// multistream-select over <see cref="Transport"/>.</summary>
    public string? EarlyMuxer { get; }
}
