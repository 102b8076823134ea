using System.Text;
using Bethrou.Libp2p.Pnet;

namespace Bethrou.Libp2p.Tests.Pnet;

public class PreSharedKeyTests
{
    private const string Hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    private static byte[] Key0To31 => XSalsa20Tests.Sequence(0, 32);

    [Fact]
    public void FingerprintVectorFromDigest()
    {
        Assert.Equal("41dfbf48d882a8ee665983adfa7a48f7", PreSharedKey.FromBytes(Key0To31).Fingerprint);
    }

    [Theory]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex)]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n")]
    [InlineData("/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + Hex + "\r\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")]
    public void ParsesTextEncodings(string file)
    {
        var psk = PreSharedKey.Parse(Encoding.ASCII.GetBytes(file));
        Assert.Equal(Key0To31, psk.Key.ToArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void ParsesBinary(string lineEnding)
    {
        // A raw key may contain '\n' and '\r' bytes itself.
        var key = Key0To31;
        key[3] = (byte)'\n';
        key[31] = (byte)'\r';
        var file = Encoding.ASCII.GetBytes("/key/swarm/psk/1.0.0/\n/bin/\n").Concat(key).Concat(Encoding.ASCII.GetBytes(lineEnding)).ToArray();
        Assert.Equal(key, PreSharedKey.Parse(file).Key.ToArray());
    }

    [Theory]
    [InlineData("", "the file is empty")]
    [InlineData("/key/swarm/psk/2.0.0/\n/base16/\n" + Hex, "line 1 must be /key/swarm/psk/1.0.0/")]
    [InlineData(Hex + "\n", "line 1 must be /key/swarm/psk/1.0.0/")]
    [InlineData("\ufeff/key/swarm/psk/1.0.0/\n/base16/\n" + Hex, "line 1 must be /key/swarm/psk/1.0.0/ (the file starts with a UTF-8 byte order mark; save it without BOM)")]
    [InlineData("/key/swarm/psk/1.0.0/", "line 2 (the encoding) is missing; expected /base16/, /base64/ or /bin/")]
    [InlineData("/key/swarm/psk/1.0.0/\n", "line 2 (the encoding) is missing; expected /base16/, /base64/ or /bin/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base58/\n" + Hex, "unknown encoding '/base58/' on line 2 (expected /base16/, /base64/ or /bin/)")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base58/", "unknown encoding '/base58/' on line 2 (expected /base16/, /base64/ or /bin/)")]
    [InlineData("/key/swarm/psk/1.0.0/\n\n" + Hex, "unknown encoding '' on line 2 (expected /base16/, /base64/ or /bin/)")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/", "line 3 (the key) is missing")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n", "line 3 (the key) is missing")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n\n\n", "line 3 (the key) is missing")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\n", "line 3 (the key) is missing")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", "base16 key must be 64 hex characters, got 63")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "00", "base16 key must be 64 hex characters, got 66")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n0001020304g5060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "base16 key has a character that is not a hex digit at position 11")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\nextra", "unexpected data after the key (line 4 and later must be empty)")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", "base64 key must be 44 characters (32 bytes, standard alphabet, padded), got 43")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-=\n", "base64 key has a character outside the standard base64 alphabet at position 43")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", "base64 key must decode to 32 bytes, got 31")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==\n", "base64 key is not valid padded base64")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\nAAECAwQFBgcICQoLDA0ODx=AEhMUFRYXGBkaGxwdHh8=\n", "base64 key has a character outside the standard base64 alphabet at position 23")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\n0123456789012345678901234567890", "bin key must be 32 bytes, got 31")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\n012345678901234567890123456789012", "bin key must be 32 bytes, got 33")]
    public void RejectsMalformedFilesWithPreciseMessages(string file, string message)
    {
        var e = Assert.Throws<FormatException>(() => PreSharedKey.Parse(Encoding.UTF8.GetBytes(file)));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void RejectsOversizedFile()
    {
        var e = Assert.Throws<FormatException>(() => PreSharedKey.Parse(new byte[2000]));
        Assert.Equal("the file is 2000 bytes, too large for a private network key file (at most 1024)", e.Message);
    }

    [Fact]
    public void UnknownEncodingIsShownPrintableAndTruncated()
    {
        var file = "/key/swarm/psk/1.0.0/\n/\u0001"u8.ToArray().Concat(Enumerable.Repeat((byte)'x', 60)).Append((byte)'\n').ToArray();
        var e = Assert.Throws<FormatException>(() => PreSharedKey.Parse(file));
        Assert.Equal("unknown encoding '/?" + new string('x', 38) + "...' on line 2 (expected /base16/, /base64/ or /bin/)", e.Message);
    }

    [Fact]
    public void ToFileBytesWritesBase16AndRoundTrips()
    {
        var psk = PreSharedKey.FromBytes(Key0To31);
        Assert.Equal("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n", Encoding.ASCII.GetString(psk.ToFileBytes()));
        var generated = PreSharedKey.Generate();
        Assert.Equal(generated.Key.ToArray(), PreSharedKey.Parse(generated.ToFileBytes()).Key.ToArray());
        Assert.NotEqual(generated.Key.ToArray(), PreSharedKey.Generate().Key.ToArray());
    }

    [Fact]
    public void ToStringShowsFingerprintOnly()
    {
        var psk = PreSharedKey.FromBytes(Key0To31);
        Assert.Equal("PreSharedKey(fingerprint 41dfbf48d882a8ee665983adfa7a48f7)", psk.ToString());
        Assert.DoesNotContain("000102", psk.ToString());
    }

    [Fact]
    public void FromBytesRejectsWrongLength()
    {
        var e = Assert.Throws<ArgumentException>(() => PreSharedKey.FromBytes(new byte[16]));
        Assert.StartsWith("a private network key must be 32 bytes, got 16", e.Message);
    }

    [Fact]
    public void LoadReadsAFile()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "swarm.key");
        File.WriteAllText(path, "/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n");
        Assert.Equal(Key0To31, PreSharedKey.Load(path).Key.ToArray());
    }

    [Fact]
    public void LoadNamesPathAndProblem()
    {
        using var dir = new TempDirectory();
        var missing = Path.Combine(dir.Path, "missing.key");
        var e = Assert.Throws<PskFileException>(() => PreSharedKey.Load(missing));
        Assert.Equal($"{missing}: file not found", e.Message);
        Assert.Equal(missing, e.Path);

        var noDir = Path.Combine(dir.Path, "nodir", "swarm.key");
        Assert.Equal($"{noDir}: file not found (its directory does not exist)", Assert.Throws<PskFileException>(() => PreSharedKey.Load(noDir)).Message);

        Assert.Equal($"{dir.Path}: is a directory, not a key file", Assert.Throws<PskFileException>(() => PreSharedKey.Load(dir.Path)).Message);

        var malformed = Path.Combine(dir.Path, "bad.key");
        File.WriteAllText(malformed, "/key/swarm/psk/1.0.0/\n/base16/\nabc\n");
        var bad = Assert.Throws<PskFileException>(() => PreSharedKey.Load(malformed));
        Assert.Equal($"{malformed}: base16 key must be 64 hex characters, got 3", bad.Message);
        Assert.IsType<FormatException>(bad.InnerException);

        var big = Path.Combine(dir.Path, "big.key");
        File.WriteAllBytes(big, new byte[5000]);
        Assert.Equal($"{big}: the file is 5000 bytes, too large for a private network key file (at most 1024)",
            Assert.Throws<PskFileException>(() => PreSharedKey.Load(big)).Message);
    }

    [Fact]
    public void LoadReportsPermissionDenied()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName == "root")
        {
            return; // root reads anything; nothing to check
        }
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "locked.key");
        File.WriteAllText(path, "x");
        File.SetUnixFileMode(path, UnixFileMode.None);
        Assert.Equal($"{path}: permission denied", Assert.Throws<PskFileException>(() => PreSharedKey.Load(path)).Message);
    }

    private sealed class TempDirectory : IDisposable
    {
        public TempDirectory() => Path = Directory.CreateTempSubdirectory("bethrou-psk-").FullName;

        public string Path { get; }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
