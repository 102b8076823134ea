namespace Bethrou.Proxy.Config;

/// <summary>Where Bethrou keeps its files: $BETHROU_STATE_DIR, else $XDG_STATE_HOME/bethrou, else ~/.local/state/bethrou.</summary>
internal static class StatePaths
{
    public static string StateDirectory()
    {
        var env = Environment.GetEnvironmentVariable("BETHROU_STATE_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var baseDir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(baseDir, "bethrou");
    }

    public static string DefaultIdentity() => Path.Combine(StateDirectory(), "node.key");

    /// <summary>The Go node's PSK lookup when --key is not given: network.key, ../network.key, ../../network.key (CWD-relative).</summary>
    public static string? FindPskFile()
    {
        foreach (var c in new[] { "network.key", Path.Combine("..", "network.key"), Path.Combine("..", "..", "network.key") })
        {
            if (File.Exists(c))
            {
                return c;
            }
        }
        return null;
    }
}
