using System.Buffers;
using System.Collections.Concurrent;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Fixed-size blocks for the stream pipes of every yamux session in the process. The shared ArrayPool keeps
/// only ~32 arrays per size per core, so a few busy streams (each with up to a window of data in flight, rented on one
/// thread and returned on another) overflow it and every block becomes garbage. This pool keeps up to
/// <see cref="MaxRetainedBlocks"/> free blocks (16 MiB at the default size) and lets the rest go to the GC.</summary>
internal sealed class YamuxBlockPool : MemoryPool<byte>
{
    public const int DefaultBlockSize = 16 * 1024;

    public static readonly YamuxBlockPool Instance = new(DefaultBlockSize, maxRetainedBlocks: 1024);

    private readonly ConcurrentQueue<Block> _free = new();
    private readonly int _blockSize;
    private int _freeCount;

    public YamuxBlockPool(int blockSize, int maxRetainedBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedBlocks);
        _blockSize = blockSize;
        MaxRetainedBlocks = maxRetainedBlocks;
    }

    public override int MaxBufferSize => _blockSize;

    public int MaxRetainedBlocks { get; }

    /// <summary>Free blocks held right now.</summary>
    public int RetainedBlocks => Volatile.Read(ref _freeCount);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > _blockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"The yamux block pool hands out blocks of at most {_blockSize} bytes.");
        }
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            block.Rented = true;
            return block;
        }
        return new Block(this, GC.AllocateUninitializedArray<byte>(_blockSize, pinned: true));
    }

    protected override void Dispose(bool disposing)
    {
        // Shared and process-wide: nothing to release.
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _freeCount) <= MaxRetainedBlocks)
        {
            _free.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    private sealed class Block(YamuxBlockPool pool, byte[] array) : IMemoryOwner<byte>
    {
        public bool Rented = true;

        public Memory<byte> Memory { get; } = array;

        public void Dispose()
        {
            if (!Rented)
            {
                return;
            }
            Rented = false;
            pool.Return(this);
        }
    }
}
