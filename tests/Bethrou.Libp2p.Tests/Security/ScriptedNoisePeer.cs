using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Security.Noise;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Tests.Security;

/// <summary>A hand-driven Noise peer for tests: produces and consumes raw frames so the real transport on the other
/// side can be fed split, truncated, crafted or garbage messages.</summary>
internal sealed class ScriptedNoisePeer : IDisposable
{
    private readonly NoiseXXHandshake _hs;
    private readonly NSec.Cryptography.Key _static;

    public ScriptedNoisePeer(bool initiator, Ed25519PrivateKey identity, params string[] muxers)
    {
        _static = NoiseSecurityTransport.CreateX25519Key();
        Payload = new NoiseSecurityTransport(identity, muxers, NullLogger.Instance, _static, NoiseSecurityTransport.CreateX25519Key).LocalPayload.ToArray();
        StaticPublic = _static.PublicKey.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey);
        _hs = new NoiseXXHandshake(initiator, _static, NoiseSecurityTransport.CreateX25519Key(), default);
    }

    /// <summary>The genuine payload for this peer's identity and static key.</summary>
    public byte[] Payload { get; }

    public byte[] StaticPublic { get; }

    public NoiseCipherState? Send { get; private set; }

    public NoiseCipherState? Receive { get; private set; }

    /// <summary>The next handshake message, length-prefixed. msg1 carries no payload; msg2/msg3 the genuine one unless given.</summary>
    public byte[] NextFrame(byte[]? payload = null)
    {
        var message = _hs.WriteMessage(_hs.MessageIndex == 0 ? [] : payload ?? Payload);
        FinishIfComplete();
        return Frame(message);
    }

    public void Read(byte[] message)
    {
        Assert.Null(_hs.ReadMessage(message, out _));
        FinishIfComplete();
    }

    public static byte[] Frame(ReadOnlySpan<byte> message)
    {
        var framed = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed.AsSpan(2));
        return framed;
    }

    /// <summary>A transport frame carrying <paramref name="plaintext"/>.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext)
    {
        var framed = new byte[2 + plaintext.Length + 16];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)(plaintext.Length + 16));
        Send!.Encrypt(default, plaintext, framed.AsSpan(2, plaintext.Length), framed.AsSpan(2 + plaintext.Length));
        return framed;
    }

    public byte[] Open(byte[] message)
    {
        var pt = new byte[message.Length - 16];
        Assert.True(Receive!.TryDecrypt(default, message.AsSpan(0, pt.Length), message.AsSpan(pt.Length), pt));
        return pt;
    }

    /// <summary>Reads one length-prefixed frame from <paramref name="input"/> (body only).</summary>
    public static async Task<byte[]> ReadFrameAsync(PipeReader input, CancellationToken ct = default)
    {
        while (true)
        {
            var result = await input.ReadAsync(ct);
            var buffer = result.Buffer;
            if (NoiseFraming.TryRead(ref buffer, 65535, out var frame, out _) == NoiseFrameStatus.Ok)
            {
                var bytes = frame.ToArray();
                input.AdvanceTo(buffer.Start);
                return bytes;
            }
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException("no complete frame before EOF");
            }
        }
    }

    private void FinishIfComplete()
    {
        if (_hs.IsComplete && Send is null)
        {
            var (i2r, r2i) = _hs.Split();
            (Send, Receive) = _hs.IsInitiator ? (i2r, r2i) : (r2i, i2r);
        }
    }

    public void Dispose()
    {
        _hs.Dispose();
        Send?.Dispose();
        Receive?.Dispose();
        _static.Dispose();
    }
}
