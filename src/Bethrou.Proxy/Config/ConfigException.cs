namespace Bethrou.Proxy.Config;

/// <summary>A configuration could not be used. <see cref="Errors"/> lists every problem found, not just the first.</summary>
internal sealed class ConfigException : Exception
{
    public ConfigException(string subject, IReadOnlyList<string> errors)
        : base(BuildMessage(subject, errors))
    {
        Subject = subject;
        Errors = errors;
    }

    /// <summary>What was being loaded, e.g. "invalid client configuration (client.yaml)".</summary>
    public string Subject { get; }

    public IReadOnlyList<string> Errors { get; }

    private static string BuildMessage(string subject, IReadOnlyList<string> errors) =>
        errors.Count == 1
            ? $"{subject}: {errors[0]}"
            : $"{subject}: {errors.Count} problems:{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", errors)}";
}
