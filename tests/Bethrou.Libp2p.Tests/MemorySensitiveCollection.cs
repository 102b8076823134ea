namespace Bethrou.Libp2p.Tests;

/// <summary>Tests that measure process-wide memory run with no other test in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemorySensitiveCollection
{
    public const string Name = "Memory-sensitive (not parallel)";
}
