using System.Collections.Frozen;
using System.Net;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Proxy.Exit;

/// <summary>Who may use this exit, and where it may connect to.</summary>
internal interface IEgressPolicy
{
    /// <summary>False when an allowlist is configured and the peer is not on it.</summary>
    bool IsPeerAllowed(PeerId peer);

    /// <summary>False for ports on the deny list.</summary>
    bool IsPortAllowed(int port);

    /// <summary>
    /// Judges one resolved address, the one that would actually be dialled (so DNS rebinding cannot slip past).
    /// <paramref name="addressClass"/> is the class found, also when allowed.
    /// </summary>
    bool IsAddressAllowed(IPAddress address, out AddressClass addressClass);
}

/// <summary>
/// The default policy: only <see cref="AddressClass.Public"/> addresses unless <c>AllowPrivate</c> (which turns the
/// address check off entirely, for labs and tests); an optional port deny list; an optional peer allowlist
/// (null = every peer holding the network key).
/// </summary>
internal sealed class EgressPolicy : IEgressPolicy
{
    private readonly FrozenSet<int> _deniedPorts;
    private readonly FrozenSet<PeerId>? _allowedPeers;

    public EgressPolicy(bool allowPrivate, IEnumerable<int>? deniedPorts = null, IEnumerable<PeerId>? allowedPeers = null)
    {
        AllowPrivate = allowPrivate;
        _deniedPorts = (deniedPorts ?? []).ToFrozenSet();
        _allowedPeers = allowedPeers?.ToFrozenSet();
    }

    public static EgressPolicy FromOptions(ExitOptions options) =>
        new(options.AllowPrivate, options.DeniedPorts, options.AllowedPeers);

    public bool AllowPrivate { get; }

    public IReadOnlySet<int> DeniedPorts => _deniedPorts;

    public IReadOnlySet<PeerId>? AllowedPeers => _allowedPeers;

    public bool IsPeerAllowed(PeerId peer) => _allowedPeers is null || _allowedPeers.Contains(peer);

    public bool IsPortAllowed(int port) => !_deniedPorts.Contains(port);

    public bool IsAddressAllowed(IPAddress address, out AddressClass addressClass)
    {
        addressClass = AddressClassifier.Classify(address);
        return AllowPrivate || addressClass == AddressClass.Public;
    }
}
