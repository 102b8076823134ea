using System.Security.Cryptography;
using System.Text;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Discovery;

/// <summary>Signed peer records as stored and published by discovery, and the Redis names derived from the topic.</summary>
internal static class NodeRecords
{
    /// <summary>Opens and verifies an envelope (signature, payload type, signer == record peer). Never throws.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> envelope, int maxBytes, out PeerRecord record, out string error)
    {
        record = null!;
        if (envelope.Length > maxBytes)
        {
            error = $"record of {envelope.Length} bytes exceeds the {maxBytes}-byte limit";
            return false;
        }
        if (envelope.IsEmpty)
        {
            error = "empty record";
            return false;
        }
        try
        {
            record = PeerRecord.OpenSigned(envelope);
            error = "";
            return true;
        }
        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException or OverflowException or InvalidOperationException)
        {
            error = e.Message;
            return false;
        }
    }

    /// <summary>
    /// The dialable addresses of <paramref name="id"/> from a list: addresses ending in <c>/p2p/&lt;other&gt;</c> are
    /// dropped (a record or reply may not speak for another peer), a trailing <c>/p2p/&lt;id&gt;</c> is removed.
    /// </summary>
    public static List<Multiaddress> OwnAddresses(PeerId id, IEnumerable<Multiaddress> addrs, out int dropped)
    {
        dropped = 0;
        var list = new List<Multiaddress>();
        foreach (var a in addrs)
        {
            var c = a.Components;
            if (c.Count > 0 && c[^1].Protocol == MultiaddressProtocol.P2p)
            {
                if (a.PeerId != id)
                {
                    dropped++;
                    continue;
                }
                var bare = a.WithoutPeerId();
                if (ReferenceEquals(bare, a))
                {
                    // A bare "/p2p/<id>" says nothing about where to dial.
                    dropped++;
                    continue;
                }
                if (!list.Contains(bare))
                {
                    list.Add(bare);
                }
            }
            else if (c.Count > 0 && !list.Contains(a))
            {
                list.Add(a);
            }
        }
        return list;
    }

    /// <summary>A sequence number that grows with time (Unix nanoseconds, like go-libp2p) and never repeats.</summary>
    public static ulong NextSeq(ulong previous, DateTimeOffset now)
    {
        var ns = (ulong)Math.Max(0, (now - DateTimeOffset.UnixEpoch).Ticks) * 100;
        return Math.Max(ns, previous + 1);
    }

    /// <summary>The SCAN pattern for the node keys of a topic, with glob characters in the topic escaped.</summary>
    public static string KeyPattern(string prefix)
    {
        var sb = new StringBuilder(prefix.Length + 4);
        foreach (var ch in prefix)
        {
            if (ch is '*' or '?' or '[' or ']' or '\\')
            {
                sb.Append('\\');
            }
            sb.Append(ch);
        }
        return sb.Append('*').ToString();
    }
}
