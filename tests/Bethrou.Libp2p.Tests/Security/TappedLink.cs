using System.IO.Pipelines;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Libp2p.Tests.Security;

/// <summary>
/// Two in-memory pipe pairs joined by relays that record every byte in each direction, and can flip one byte of the
/// initiator→responder stream at a given offset (to tamper with a frame).
/// </summary>
internal sealed class TappedLink
{
    private readonly MemoryStream _i2r = new();
    private readonly MemoryStream _r2i = new();
    private readonly Task _relayI2R;
    private readonly Task _relayR2I;

    public TappedLink(long tamperI2ROffset = -1, PipeOptions? options = null)
    {
        var (initiator, left) = DuplexPipe.CreatePair(options, options);
        var (right, responder) = DuplexPipe.CreatePair(options, options);
        Initiator = initiator;
        Responder = responder;
        _relayI2R = RelayAsync(left.Input, right.Output, _i2r, tamperI2ROffset);
        _relayR2I = RelayAsync(right.Input, left.Output, _r2i, -1);
    }

    public IDuplexPipe Initiator { get; }

    public IDuplexPipe Responder { get; }

    public byte[] InitiatorToResponder()
    {
        lock (_i2r)
        {
            return _i2r.ToArray();
        }
    }

    public byte[] ResponderToInitiator()
    {
        lock (_r2i)
        {
            return _r2i.ToArray();
        }
    }

    private static async Task RelayAsync(PipeReader from, PipeWriter to, MemoryStream record, long tamperOffset)
    {
        long position = 0;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    var bytes = segment.ToArray();
                    if (tamperOffset >= position && tamperOffset < position + bytes.Length)
                    {
                        bytes[tamperOffset - position] ^= 0x01;
                    }
                    position += bytes.Length;
                    lock (record)
                    {
                        record.Write(bytes);
                    }
                    await to.WriteAsync(bytes);
                }
                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        await from.CompleteAsync(error);
        await to.CompleteAsync(error);
    }

    /// <summary>Completes when both relays have seen EOF on their input.</summary>
    public Task Completion => Task.WhenAll(_relayI2R, _relayR2I);
}
