namespace Bethrou.Proxy.Tunnel;

/// <summary>How a <see cref="DuplexPump"/> run ended.</summary>
public enum PumpStatus
{
    /// <summary>Both directions reached end of stream; every byte was delivered and both outputs were half-closed.</summary>
    Completed,

    /// <summary>The caller's token was cancelled; both directions were aborted.</summary>
    Canceled,

    /// <summary>Reading from <see cref="PumpResult.FailedSide"/>'s input failed (e.g. a reset); both directions were aborted.</summary>
    ReadFailed,

    /// <summary>Writing to <see cref="PumpResult.FailedSide"/>'s output failed; both directions were aborted.</summary>
    WriteFailed,
}

/// <summary>Which pipe of a <see cref="DuplexPump"/> run.</summary>
public enum PumpSide
{
    None,
    A,
    B,
}

/// <summary>The outcome of <see cref="DuplexPump.RunAsync"/>: the first failure (if any) and the bytes moved each way.</summary>
/// <param name="Status">How the run ended.</param>
/// <param name="FailedSide">The pipe whose read or write failed first; <see cref="PumpSide.None"/> unless
/// <paramref name="Status"/> is <see cref="PumpStatus.ReadFailed"/> or <see cref="PumpStatus.WriteFailed"/>.</param>
/// <param name="BytesAToB">Bytes read from A and written to B.</param>
/// <param name="BytesBToA">Bytes read from B and written to A.</param>
/// <param name="Error">The first failure's exception, if any.</param>
public readonly record struct PumpResult(PumpStatus Status, PumpSide FailedSide, long BytesAToB, long BytesBToA, Exception? Error)
{
    public bool IsCompleted => Status == PumpStatus.Completed;
}
