namespace Bethrou.Discovery.Tests.Infrastructure;

/// <summary>One redis-server shared by the tests of a class; tests isolate themselves with their own topics.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
