using System.Globalization;
using Bethrou.Libp2p.Multiformats;
using YamlDotNet.RepresentationModel;

namespace Bethrou.Proxy.Config;

/// <summary>Parses exit-node entries (<c>nodes[]</c> in YAML, <c>--node</c>/<c>BETHROU_NODES</c> multiaddrs).</summary>
internal sealed class NodeEntryParser(Func<string, string?>? validateMultiaddr)
{
    private static readonly string[] NodeKeys = ["id", "addrs", "relay"];

    /// <summary>True once any node entry was seen (valid or not), so "no exit nodes" is not reported on top of its errors.</summary>
    public bool SawEntries { get; private set; }

    public object? ParseYaml(YamlNode node, string path, ConfigLayers layers)
    {
        if (node is not YamlSequenceNode seq)
        {
            layers.AddError($"{ConfigLayers.At(path, node)}: must be a list of nodes, not {ConfigLayers.Describe(node)}");
            return null;
        }
        var nodes = new List<ExitNodeEntry>();
        SawEntries |= seq.Children.Count > 0;
        for (var i = 0; i < seq.Children.Count; i++)
        {
            var itemPath = string.Create(CultureInfo.InvariantCulture, $"{path}[{i}]");
            var item = seq.Children[i];
            if (item is not YamlMappingNode map)
            {
                layers.AddError($"{ConfigLayers.At(itemPath, item)}: must be a mapping with id, addrs and relay, not {ConfigLayers.Describe(item)}");
                continue;
            }
            var hadUnknownKeys = layers.ReportUnknownKeys(map, itemPath, NodeKeys);
            string? id = null;
            YamlNode? idNode = null;
            var addrs = new List<(string Text, string Origin)>();
            string? relay = null;
            string? relayOrigin = null;
            foreach (var (k, v) in map.Children)
            {
                var name = (k as YamlScalarNode)?.Value;
                if (ConfigLayers.IsNull(v))
                {
                    continue;
                }
                switch (name)
                {
                    case "id":
                        idNode = v;
                        if (v is YamlScalarNode { Value: { } s })
                        {
                            id = s;
                        }
                        else
                        {
                            layers.AddError($"{ConfigLayers.At(itemPath + ".id", v)}: must be a peer id string, not {ConfigLayers.Describe(v)}");
                        }
                        break;
                    case "addrs":
                        var origin = ConfigLayers.At(itemPath + ".addrs", v);
                        var list = layers.ReadStringList(v, origin);
                        if (list is not null)
                        {
                            var lines = v is YamlSequenceNode sq ? sq.Children.Select(c => c.Start.Line).ToList() : [v.Start.Line];
                            for (var j = 0; j < list.Count; j++)
                            {
                                var line = j < lines.Count ? lines[j] : v.Start.Line;
                                addrs.Add((list[j], string.Create(CultureInfo.InvariantCulture, $"{itemPath}.addrs[{j}] at line {line}")));
                            }
                        }
                        break;
                    case "relay":
                        relayOrigin = ConfigLayers.At(itemPath + ".relay", v);
                        if (v is YamlScalarNode { Value: { } r })
                        {
                            relay = r;
                        }
                        else
                        {
                            layers.AddError($"{relayOrigin}: must be a multiaddr string, not {ConfigLayers.Describe(v)}");
                        }
                        break;
                }
            }
            var entry = Build(id, idNode is null ? null : ConfigLayers.At(itemPath + ".id", idNode), addrs, relay, relayOrigin,
                ConfigLayers.At(itemPath, map), layers, reportMissing: !hadUnknownKeys);
            if (entry is not null)
            {
                nodes.Add(entry);
            }
        }
        return nodes;
    }

    /// <summary>A comma-separated list of full multiaddrs ending in <c>/p2p/&lt;id&gt;</c>.</summary>
    public object? ParseText(string text, string origin, ConfigLayers layers) =>
        ParseMultiaddrs(ConfigLayers.SplitList(text), origin, layers);

    public List<ExitNodeEntry> ParseMultiaddrs(IReadOnlyList<string> addrs, string origin, ConfigLayers layers)
    {
        var nodes = new List<ExitNodeEntry>();
        SawEntries |= addrs.Count > 0;
        foreach (var a in addrs)
        {
            var entry = Build(null, null, [(a.Trim(), $"{origin} '{a.Trim()}'")], null, null, $"{origin} '{a.Trim()}'", layers);
            if (entry is not null)
            {
                nodes.Add(entry);
            }
        }
        return nodes;
    }

    private ExitNodeEntry? Build(
        string? id, string? idOrigin, List<(string Text, string Origin)> addrs, string? relay, string? relayOrigin,
        string nodeOrigin, ConfigLayers layers, bool reportMissing = true)
    {
        var ok = true;
        PeerId? peer = null;
        if (id is not null)
        {
            if (PeerId.TryParse(id, out var parsed, out var error))
            {
                peer = parsed;
            }
            else
            {
                layers.AddError($"{idOrigin}: {error}");
                ok = false;
            }
        }
        foreach (var (text, origin) in addrs)
        {
            if (validateMultiaddr?.Invoke(text) is { } problem)
            {
                layers.AddError($"{origin}: {problem}");
                ok = false;
                continue;
            }
            var tail = P2pSuffix(text);
            if (tail is null)
            {
                continue;
            }
            if (!PeerId.TryParse(tail, out var fromAddr, out var tailError))
            {
                layers.AddError($"{origin}: {tailError}");
                ok = false;
            }
            else if (peer is null)
            {
                peer = fromAddr;
                idOrigin ??= origin;
            }
            else if (peer != fromAddr)
            {
                layers.AddError($"{origin}: ends in /p2p/{fromAddr} but the node is {peer} ({idOrigin})");
                ok = false;
            }
        }
        if (relay is not null && validateMultiaddr?.Invoke(relay) is { } relayProblem)
        {
            layers.AddError($"{relayOrigin}: {relayProblem}");
            ok = false;
        }
        if (addrs.Count == 0 && relay is null)
        {
            if (reportMissing)
            {
                layers.AddError($"{nodeOrigin}: a node needs 'addrs' or a 'relay'");
            }
            return null;
        }
        if (peer is null && ok && reportMissing)
        {
            layers.AddError($"{nodeOrigin}: no peer id (set 'id' or end an address with /p2p/<peer id>)");
            return null;
        }
        return ok && peer is not null ? new ExitNodeEntry(peer, [.. addrs.Select(a => a.Text)], relay) : null;
    }

    /// <summary>The peer id after the last <c>/p2p/</c> (or legacy <c>/ipfs/</c>) component, if any.</summary>
    internal static string? P2pSuffix(string multiaddr)
    {
        var best = -1;
        var len = 0;
        foreach (var marker in (string[])["/p2p/", "/ipfs/"])
        {
            var i = multiaddr.LastIndexOf(marker, StringComparison.Ordinal);
            if (i > best)
            {
                best = i;
                len = marker.Length;
            }
        }
        if (best < 0)
        {
            return null;
        }
        var start = best + len;
        var end = multiaddr.IndexOf('/', start);
        var id = end < 0 ? multiaddr[start..] : multiaddr[start..end];
        if (end >= 0 && multiaddr.AsSpan(end).StartsWith("/p2p-circuit", StringComparison.Ordinal))
        {
            return null; // /p2p/<relay>/p2p-circuit with no target id
        }
        return id;
    }
}
