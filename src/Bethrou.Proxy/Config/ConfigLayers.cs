using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bethrou.Proxy.Config;

internal enum ConfigValueKind
{
    String,
    Bool,
    Duration,
    Int,

    /// <summary>A YAML sequence of scalars (a single scalar counts as one item); comma-separated in env vars.</summary>
    StringList,

    /// <summary>Parsed by the key's own callbacks (e.g. <c>nodes</c>).</summary>
    Custom,
}

/// <summary>One known configuration key (a dotted path such as <c>routing.strategy</c>).</summary>
/// <param name="Check">Validates a parsed value; returns the problem, or null when fine. Runs for every layer.</param>
/// <param name="ParseYaml">For <see cref="ConfigValueKind.Custom"/>: parses the YAML node (report errors through the layers).</param>
/// <param name="ParseText">For <see cref="ConfigValueKind.Custom"/>: parses an env/flag string.</param>
internal sealed record ConfigKey(
    string Path,
    ConfigValueKind Kind,
    Func<object, string?>? Check = null,
    Func<YamlNode, string, ConfigLayers, object?>? ParseYaml = null,
    Func<string, string, ConfigLayers, object?>? ParseText = null);

/// <summary>
/// Collects settings from layers applied in increasing precedence (defaults → file → environment → flags), keeping
/// for each key the winning value and where it came from, and collecting every error instead of stopping.
/// Empty values (YAML null, <c>""</c>, an empty env var) mean "not set" and leave lower layers in effect.
/// </summary>
internal sealed class ConfigLayers
{
    private readonly Dictionary<string, ConfigKey> _schema;
    private readonly Dictionary<string, (object Value, string Origin)> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _sections = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _retired;

    public ConfigLayers(IEnumerable<ConfigKey> schema, IReadOnlyDictionary<string, string>? retiredKeys = null)
    {
        _schema = schema.ToDictionary(k => k.Path, StringComparer.Ordinal);
        foreach (var path in _schema.Keys)
        {
            var dot = path.LastIndexOf('.');
            while (dot > 0)
            {
                _sections.Add(path[..dot]);
                dot = path.LastIndexOf('.', dot - 1);
            }
        }
        _retired = retiredKeys is null ? [] : new Dictionary<string, string>(retiredKeys, StringComparer.Ordinal);
    }

    private readonly HashSet<string> _errorPaths = new(StringComparer.Ordinal);

    public List<string> Errors { get; } = [];

    /// <summary>True when the config file could not be read or parsed (so "missing" checks would only add noise).</summary>
    public bool SourceFailed { get; set; }

    /// <summary>True when some layer gave this key a value that was rejected.</summary>
    public bool HadError(string path) => _errorPaths.Contains(path);

    public void AddError(string error) => Errors.Add(error);

    public bool IsSet(string path) => _values.ContainsKey(path);

    public T? Get<T>(string path) => _values.TryGetValue(path, out var v) ? (T)v.Value : default;

    public T GetOrDefault<T>(string path, T fallback) => _values.TryGetValue(path, out var v) ? (T)v.Value : fallback;

    /// <summary>Where the winning value came from: <c>"server.listen at line 3"</c>, <c>"BETHROU_LISTEN"</c>, <c>"--listen"</c>.</summary>
    public string OriginOf(string path) => _values.TryGetValue(path, out var v) ? v.Origin : path;

    // ---------------------------------------------------------------- YAML file layer

    /// <summary>Parses a YAML document and applies every known key; syntax errors and unknown keys are recorded.</summary>
    public void ApplyYaml(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException is YamlException ie ? ie.Message : ex.Message;
            if (inner.StartsWith("Duplicate key ", StringComparison.Ordinal))
            {
                // YamlDotNet refuses duplicates while loading; say it the way the rest of our messages do.
                AddError(string.Create(CultureInfo.InvariantCulture, $"duplicate key '{inner["Duplicate key ".Length..]}' at line {ex.Start.Line}"));
            }
            else
            {
                AddError(string.Create(CultureInfo.InvariantCulture, $"YAML syntax error at line {ex.Start.Line}, column {ex.Start.Column}: {inner}"));
            }
            SourceFailed = true;
            return;
        }
        if (stream.Documents.Count == 0)
        {
            return; // an empty file is an empty config
        }
        if (stream.Documents.Count > 1)
        {
            AddError(string.Create(CultureInfo.InvariantCulture,
                $"the file holds {stream.Documents.Count} YAML documents; only one is allowed (second starts at line {stream.Documents[1].RootNode.Start.Line})"));
        }
        var root = stream.Documents[0].RootNode;
        if (IsNull(root))
        {
            return;
        }
        if (root is not YamlMappingNode map)
        {
            AddError(string.Create(CultureInfo.InvariantCulture, $"the top level at line {root.Start.Line} must be a mapping of keys to values"));
            SourceFailed = true;
            return;
        }
        ApplyMapping(map, "");
    }

    /// <summary>Walks a mapping against the schema: known keys are parsed, sections recursed, anything else reported.</summary>
    private void ApplyMapping(YamlMappingNode map, string prefix)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } name })
            {
                AddError(string.Create(CultureInfo.InvariantCulture, $"a key at line {keyNode.Start.Line} is not a plain name"));
                continue;
            }
            var path = prefix.Length == 0 ? name : prefix + "." + name;
            if (!seen.Add(name))
            {
                AddError(string.Create(CultureInfo.InvariantCulture, $"duplicate key '{path}' at line {keyNode.Start.Line}"));
                continue;
            }
            if (_schema.TryGetValue(path, out var key))
            {
                var before = Errors.Count;
                ApplyYamlValue(key, valueNode, At(path, valueNode));
                if (Errors.Count > before)
                {
                    _errorPaths.Add(path);
                }
            }
            else if (_sections.Contains(path))
            {
                if (IsNull(valueNode))
                {
                    continue;
                }
                if (valueNode is YamlMappingNode section)
                {
                    ApplyMapping(section, path);
                }
                else
                {
                    AddError($"{At(path, valueNode)}: must be a section (a mapping of keys), not {Describe(valueNode)}");
                }
            }
            else if (_retired.TryGetValue(path, out var why))
            {
                AddError($"key '{path}' at line {keyNode.Start.Line.ToString(CultureInfo.InvariantCulture)} is not supported: {why}");
            }
            else
            {
                AddError(UnknownKey(path, name, prefix, keyNode.Start.Line, SiblingNames(prefix)));
            }
        }
    }

    /// <summary>Reports unknown keys inside a custom-parsed mapping (e.g. one entry of <c>nodes</c>).</summary>
    public bool ReportUnknownKeys(YamlMappingNode map, string prefix, IReadOnlyCollection<string> known)
    {
        var before = Errors.Count;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, _) in map.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!seen.Add(name))
            {
                AddError(string.Create(CultureInfo.InvariantCulture, $"duplicate key '{prefix}.{name}' at line {keyNode.Start.Line}"));
            }
            else if (!known.Contains(name))
            {
                AddError(UnknownKey(prefix + "." + name, name, prefix, keyNode.Start.Line, known));
            }
        }
        return Errors.Count > before;
    }

    private static string UnknownKey(string path, string name, string prefix, long line, IEnumerable<string> siblings)
    {
        var suggestion = Suggest(name, siblings);
        var where = string.Create(CultureInfo.InvariantCulture, $"unknown key '{path}' at line {line}");
        if (suggestion is not null)
        {
            return $"{where} (did you mean '{suggestion}'?)";
        }
        var options = string.Join(", ", siblings.Order(StringComparer.Ordinal));
        return options.Length == 0 ? where : $"{where} (known keys{(prefix.Length == 0 ? "" : " in '" + prefix + "'")}: {options})";
    }

    private IEnumerable<string> SiblingNames(string prefix)
    {
        var start = prefix.Length == 0 ? 0 : prefix.Length + 1;
        return _schema.Keys.Concat(_sections)
            .Where(p => prefix.Length == 0 ? true : p.StartsWith(prefix + ".", StringComparison.Ordinal))
            .Select(p => p[start..])
            .Where(rest => !rest.Contains('.', StringComparison.Ordinal))
            .Distinct();
    }

    private void ApplyYamlValue(ConfigKey key, YamlNode node, string origin)
    {
        if (IsNull(node))
        {
            return;
        }
        object? value;
        switch (key.Kind)
        {
            case ConfigValueKind.Custom:
                value = key.ParseYaml!(node, key.Path, this);
                break;
            case ConfigValueKind.StringList:
                value = ReadStringList(node, origin);
                break;
            default:
                if (node is not YamlScalarNode scalar)
                {
                    AddError($"{origin}: must be a single value, not {Describe(node)}");
                    return;
                }
                value = ParseScalar(key, scalar.Value ?? "", origin);
                break;
        }
        Set(key, value, origin);
    }

    public List<string>? ReadStringList(YamlNode node, string origin)
    {
        switch (node)
        {
            case YamlScalarNode s:
                return string.IsNullOrEmpty(s.Value) ? null : [s.Value];
            case YamlSequenceNode seq:
                var list = new List<string>();
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    if (seq.Children[i] is YamlScalarNode { Value: { Length: > 0 } item })
                    {
                        list.Add(item);
                    }
                    else
                    {
                        AddError(string.Create(CultureInfo.InvariantCulture,
                            $"{origin}: item {i + 1} (line {seq.Children[i].Start.Line}) must be a non-empty string"));
                    }
                }
                return list;
            default:
                AddError($"{origin}: must be a list, not {Describe(node)}");
                return null;
        }
    }

    // ---------------------------------------------------------------- env / flag layers

    /// <summary>Applies a textual value (env var or string flag); empty means unset.</summary>
    public void ApplyText(string path, string? text, string origin)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }
        var key = _schema[path];
        var before = Errors.Count;
        object? value = key.Kind switch
        {
            ConfigValueKind.Custom => key.ParseText!(text, origin, this),
            ConfigValueKind.StringList => SplitList(text),
            _ => ParseScalar(key, text.Trim(), origin),
        };
        Set(key, value, origin);
        if (Errors.Count > before)
        {
            _errorPaths.Add(path);
        }
    }

    /// <summary>Applies an already-typed value (a typed flag); null means unset.</summary>
    public void ApplyValue(string path, object? value, string origin)
    {
        if (value is null)
        {
            return;
        }
        var before = Errors.Count;
        Set(_schema[path], value, origin);
        if (Errors.Count > before)
        {
            _errorPaths.Add(path);
        }
    }

    public static List<string> SplitList(string text) =>
        [.. text.Split([',', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private void Set(ConfigKey key, object? value, string origin)
    {
        if (value is null)
        {
            return;
        }
        if (key.Check?.Invoke(value) is { } problem)
        {
            AddError($"{origin}: {problem}");
            return;
        }
        _values[key.Path] = (value, origin);
    }

    private object? ParseScalar(ConfigKey key, string text, string origin)
    {
        switch (key.Kind)
        {
            case ConfigValueKind.String:
                return text.Length == 0 ? null : text;
            case ConfigValueKind.Bool:
                if (TryParseBool(text, out var b))
                {
                    return b;
                }
                AddError($"{origin}: '{text}' is not a boolean (use true or false)");
                return null;
            case ConfigValueKind.Int:
                if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                {
                    return n;
                }
                AddError($"{origin}: '{text}' is not a whole number");
                return null;
            case ConfigValueKind.Duration:
                if (text.Length == 0)
                {
                    return null;
                }
                if (!GoDuration.TryParse(text, out var d, out var error))
                {
                    AddError($"{origin}: {error}");
                    return null;
                }
                if (d <= TimeSpan.Zero)
                {
                    AddError($"{origin}: duration must be positive (got '{text}')");
                    return null;
                }
                return d;
            default:
                throw new InvalidOperationException($"key {key.Path} of kind {key.Kind} has no scalar parser");
        }
    }

    private static bool TryParseBool(string text, out bool value)
    {
        switch (text.ToLowerInvariant())
        {
            case "true" or "yes" or "on" or "1":
                value = true;
                return true;
            case "false" or "no" or "off" or "0":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    // ---------------------------------------------------------------- helpers

    public static string At(string path, YamlNode node) =>
        string.Create(CultureInfo.InvariantCulture, $"{path} at line {node.Start.Line}");

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "an unsupported node",
    };

    /// <summary>The closest candidate within a small edit distance, for "did you mean" hints.</summary>
    public static string? Suggest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            var d = Levenshtein(input.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
                best = c;
            }
        }
        if (best is not null && bestDistance <= Math.Max(1, Math.Min(3, Math.Max(input.Length, best.Length) / 3)))
        {
            return best;
        }
        // "logging" → "log", "strat" → "strategy": one is a prefix of the other.
        return candidates.FirstOrDefault(c => Math.Min(c.Length, input.Length) >= 3
            && (input.StartsWith(c, StringComparison.OrdinalIgnoreCase) || c.StartsWith(input, StringComparison.OrdinalIgnoreCase)));
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
