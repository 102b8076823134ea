using System.Buffers;
using BenchmarkDotNet.Attributes;
using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Benchmarks;

/// <summary>Header codec cost: parse and write 1,000 headers per operation.</summary>
[MemoryDiagnoser]
public class YamuxFrameBenchmarks
{
    private const int Count = 1000;
    private byte[] _headers = [];
    private readonly ArrayBufferWriter<byte> _writer = new(Count * YamuxFrame.HeaderLength);

    [GlobalSetup]
    public void Setup()
    {
        _headers = new byte[Count * YamuxFrame.HeaderLength];
        for (var i = 0; i < Count; i++)
        {
            YamuxFrame.Write(_headers.AsSpan(i * YamuxFrame.HeaderLength), new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, (uint)(i * 2 + 1), (uint)i));
        }
    }

    [Benchmark(OperationsPerInvoke = Count)]
    public long ParseHeaders()
    {
        var buffer = new ReadOnlySequence<byte>(_headers);
        long sum = 0;
        while (YamuxFrame.TryRead(ref buffer, 16 * 1024 * 1024, out var header) == YamuxReadStatus.Ok)
        {
            sum += header.Length;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Count)]
    public int WriteHeaders()
    {
        _writer.ResetWrittenCount();
        for (var i = 0; i < Count; i++)
        {
            YamuxFrame.Write(_writer, new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, (uint)i, 65536));
        }
        return _writer.WrittenCount;
    }
}
