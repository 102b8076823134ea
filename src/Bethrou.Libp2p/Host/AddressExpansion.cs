using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Host;

/// <summary>Turns a wildcard listen address (0.0.0.0 / ::) into the concrete interface addresses it covers.</summary>
public static class AddressExpansion
{
    public static IEnumerable<Multiaddress> Expand(Multiaddress listen)
    {
        var ep = listen.GetTcpEndpoint();
        if (ep is null)
        {
            yield return listen;
            yield break;
        }
        if (!IPAddress.TryParse(ep.Value.Host, out var ip))
        {
            yield return listen; // /dns*/…: nothing to expand
            yield break;
        }
        if (!ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any))
        {
            yield return listen;
            yield break;
        }
        var family = ip.AddressFamily;
        IEnumerable<IPAddress> addrs;
        try
        {
            addrs = NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
                .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(u => u.Address))
                .Where(a => a.AddressFamily == family && !(family == AddressFamily.InterNetworkV6 && (a.IsIPv6LinkLocal || a.ScopeId != 0)))
                .ToList();
        }
        catch (NetworkInformationException)
        {
            addrs = [family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback];
        }
        foreach (var a in addrs.OrderBy(a => IPAddress.IsLoopback(a)))
        {
            yield return Multiaddress.FromTcpEndPoint(new IPEndPoint(a, ep.Value.Port));
        }
    }
}
