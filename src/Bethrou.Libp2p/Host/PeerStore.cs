using System.Collections.Concurrent;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Host;

/// <summary>What we know about a peer (from configuration, identify, discovery).</summary>
public sealed class PeerInfo(PeerId id)
{
    private readonly Lock _lock = new();
    private List<Multiaddress> _addresses = [];
    private IReadOnlyList<string> _protocols = [];

    public PeerId Id { get; } = id;

    public PublicKey? PublicKey { get; internal set; }

    public string? AgentVersion { get; internal set; }

    public string? ProtocolVersion { get; internal set; }

    public Multiaddress? ObservedAddress { get; internal set; }

    public IReadOnlyList<Multiaddress> Addresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _addresses];
            }
        }
    }

    public IReadOnlyList<string> Protocols => Volatile.Read(ref _protocols);

    internal void SetProtocols(IEnumerable<string> protocols) => Volatile.Write(ref _protocols, [.. protocols.Distinct()]);

    public void AddAddresses(IEnumerable<Multiaddress> addresses)
    {
        lock (_lock)
        {
            foreach (var a in addresses)
            {
                var bare = a.WithoutPeerId();
                if (!_addresses.Contains(bare))
                {
                    _addresses.Add(bare);
                }
            }
        }
    }

    internal void ReplaceAddresses(IEnumerable<Multiaddress> addresses)
    {
        lock (_lock)
        {
            _addresses = [.. addresses.Select(a => a.WithoutPeerId()).Distinct()];
        }
    }
}

public sealed class PeerStore
{
    private readonly ConcurrentDictionary<PeerId, PeerInfo> _peers = new();

    public PeerInfo GetOrAdd(PeerId id) => _peers.GetOrAdd(id, static i => new PeerInfo(i));

    public PeerInfo? TryGet(PeerId id) => _peers.TryGetValue(id, out var p) ? p : null;

    public IReadOnlyCollection<PeerInfo> All => [.. _peers.Values];
}
