namespace Bethrou.Libp2p.Multiformats;

/// <summary>Base58btc (Bitcoin alphabet), no multibase prefix.</summary>
public static class Base58
{
    private const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private static readonly sbyte[] Map = BuildMap();

    private static sbyte[] BuildMap()
    {
        var map = new sbyte[128];
        Array.Fill(map, (sbyte)-1);
        for (var i = 0; i < Alphabet.Length; i++)
        {
            map[Alphabet[i]] = (sbyte)i;
        }
        return map;
    }

    public static string Encode(ReadOnlySpan<byte> data)
    {
        var zeros = 0;
        while (zeros < data.Length && data[zeros] == 0)
        {
            zeros++;
        }
        var size = ((data.Length - zeros) * 138 / 100) + 1;
        var buf = new byte[size];
        var length = 0;
        for (var i = zeros; i < data.Length; i++)
        {
            int carry = data[i];
            var j = 0;
            for (var k = size - 1; (carry != 0 || j < length) && k >= 0; k--, j++)
            {
                carry += 256 * buf[k];
                buf[k] = (byte)(carry % 58);
                carry /= 58;
            }
            length = j;
        }
        var start = size - length;
        while (start < size && buf[start] == 0)
        {
            start++;
        }
        var chars = new char[zeros + (size - start)];
        for (var i = 0; i < zeros; i++)
        {
            chars[i] = '1';
        }
        for (var i = start; i < size; i++)
        {
            chars[zeros + i - start] = Alphabet[buf[i]];
        }
        return new string(chars);
    }

    public static bool TryDecode(string text, out byte[] result)
    {
        result = [];
        var zeros = 0;
        while (zeros < text.Length && text[zeros] == '1')
        {
            zeros++;
        }
        var size = ((text.Length - zeros) * 733 / 1000) + 1;
        var buf = new byte[size];
        var length = 0;
        for (var i = zeros; i < text.Length; i++)
        {
            var c = text[i];
            if (c >= 128 || Map[c] < 0)
            {
                return false;
            }
            int carry = Map[c];
            var j = 0;
            for (var k = size - 1; (carry != 0 || j < length) && k >= 0; k--, j++)
            {
                carry += 58 * buf[k];
                buf[k] = (byte)(carry % 256);
                carry /= 256;
            }
            length = j;
        }
        var start = size - length;
        while (start < size && buf[start] == 0)
        {
            start++;
        }
        result = new byte[zeros + (size - start)];
        Array.Copy(buf, start, result, zeros, size - start);
        return true;
    }

    public static byte[] Decode(string text) =>
        TryDecode(text, out var r) ? r : throw new FormatException("invalid base58btc character");
}
