namespace Bethrou.Libp2p.Crypto;

/// <summary>A problem with an identity key file; the message names the file and what is wrong.</summary>
public sealed class KeyFileException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>Reads and writes the go-libp2p identity file: the raw 68-byte PrivateKey protobuf, mode 0600.</summary>
public static class IdentityFile
{
    public static Ed25519PrivateKey Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new KeyFileException($"{path}: file not found", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new KeyFileException($"{path}: directory not found", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new KeyFileException($"{path}: permission denied", e);
        }
        catch (IOException e)
        {
            throw new KeyFileException($"{path}: cannot read: {e.Message}", e);
        }
        try
        {
            return Ed25519PrivateKey.Unmarshal(bytes);
        }
        catch (FormatException e)
        {
            throw new KeyFileException($"{path}: not a libp2p identity key: {e.Message}", e);
        }
    }

    /// <summary>Writes a new key with mode 0600, refusing to overwrite an existing file.</summary>
    public static void Write(string path, Ed25519PrivateKey key)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        WriteNew(path, key.Marshal());
    }

    /// <summary>Loads the identity, or creates it (0600) if the file does not exist.</summary>
    public static Ed25519PrivateKey LoadOrCreate(string path, out bool created)
    {
        created = false;
        if (File.Exists(path))
        {
            return Load(path);
        }
        var key = Ed25519PrivateKey.Generate();
        try
        {
            Write(path, key);
            created = true;
            return key;
        }
        catch (KeyFileException) when (File.Exists(path))
        {
            key.Dispose();
            return Load(path); // another process created it first
        }
    }

    /// <summary>Creates a file exclusively with owner-only permissions and writes the bytes.</summary>
    public static void WriteNew(string path, byte[] content)
    {
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using var fs = new FileStream(path, options);
            fs.Write(content);
            fs.Flush(flushToDisk: true);
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new KeyFileException($"{path}: already exists; refusing to overwrite it", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new KeyFileException($"{path}: permission denied", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new KeyFileException($"{path}: directory not found", e);
        }
    }
}
