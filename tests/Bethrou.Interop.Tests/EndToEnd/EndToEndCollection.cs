namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// The end-to-end test classes run one after another (not in parallel with each other): each starts several
/// processes and moves a lot of bytes, and the machine has two shared cores.
/// </summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection
{
    public const string Name = "EndToEnd";
}
