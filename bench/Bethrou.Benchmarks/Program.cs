using BenchmarkDotNet.Running;

namespace Bethrou.Benchmarks;

internal static class Program
{
    // Every public benchmark class in this assembly is offered; pick with --filter, e.g. --filter '*XSalsa20*'.
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
