namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>Polls a condition until it holds or the token (the test's deadline) ends.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<bool> condition, string what, CancellationToken ct, TimeSpan? max = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(max ?? TimeSpan.FromSeconds(60));
        try
        {
            while (!condition())
            {
                await Task.Delay(20, cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"timed out waiting for {what}");
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, CancellationToken ct, TimeSpan? max = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(max ?? TimeSpan.FromSeconds(60));
        try
        {
            while (!await condition())
            {
                await Task.Delay(20, cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"timed out waiting for {what}");
        }
    }
}
