using System.Buffers;

namespace Bethrou.Libp2p.Tests.Multistream;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s to test codecs at every split point.</summary>
internal static class SequenceSplitter
{
    /// <summary>The bytes as one sequence whose segments end at <paramref name="cuts"/> (ascending offsets).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        if (cuts.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }
        Segment? first = null;
        Segment? last = null;
        var start = 0;
        foreach (var end in cuts.Append(data.Length))
        {
            // Copy each piece into its own array so nothing can read across a boundary by accident.
            var piece = data.AsSpan(start, end - start).ToArray();
            last = last is null ? first = new Segment(piece, 0) : last.Append(piece);
            start = end;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
