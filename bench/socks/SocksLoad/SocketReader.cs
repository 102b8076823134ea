using System.Net.Sockets;
using System.Text;

namespace Bethrou.Bench.Socks;

/// <summary>
/// A receive buffer over a socket: reads HTTP heads and lines without over-reading the body, and discards bodies
/// in large reads. Single-threaded use.
/// </summary>
internal sealed class SocketReader(Socket socket, int bufferSize)
{
    private readonly byte[] _buffer = new byte[bufferSize];
    private int _start;
    private int _end;

    public int Buffered => _end - _start;

    /// <summary>Receives at least one more byte into the buffer; false at end of stream.</summary>
    private async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                throw new HttpFormatException($"line or head longer than {_buffer.Length} bytes");
            }
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var n = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct).ConfigureAwait(false);
        _end += n;
        return n > 0;
    }

    /// <summary>Waits for the first byte; returns false if the peer closed first.</summary>
    public async ValueTask<bool> WaitFirstByteAsync(CancellationToken ct)
    {
        return Buffered > 0 || await FillAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes into <paramref name="into"/>.</summary>
    public async ValueTask ReadExactlyAsync(Memory<byte> into, CancellationToken ct)
    {
        var got = 0;
        while (got < into.Length)
        {
            if (Buffered == 0 && !await FillAsync(ct).ConfigureAwait(false))
            {
                throw new EndOfStreamException($"peer closed after {got} of {into.Length} bytes");
            }
            var n = Math.Min(Buffered, into.Length - got);
            _buffer.AsMemory(_start, n).CopyTo(into[got..]);
            _start += n;
            got += n;
        }
    }

    /// <summary>Reads an HTTP head up to and including the empty line; null if the peer closed before any byte.</summary>
    public async ValueTask<string?> ReadHeadAsync(CancellationToken ct)
    {
        var scanFrom = _start;
        while (true)
        {
            var span = _buffer.AsSpan(scanFrom, _end - scanFrom);
            var idx = span.IndexOf("\r\n\r\n"u8);
            if (idx >= 0)
            {
                var endOfHead = scanFrom + idx + 4;
                var head = Encoding.ASCII.GetString(_buffer, _start, endOfHead - _start);
                _start = endOfHead;
                return head;
            }
            var consumedBefore = _start;
            scanFrom = Math.Max(_start, _end - 3);
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                if (Buffered == 0)
                {
                    return null;
                }
                throw new EndOfStreamException($"peer closed inside an HTTP head ({Buffered} bytes)");
            }
            // FillAsync may have moved the data to the start of the buffer
            scanFrom -= consumedBefore - _start;
        }
    }

    /// <summary>Reads one CRLF-terminated line (without the CRLF).</summary>
    public async ValueTask<string> ReadLineAsync(CancellationToken ct)
    {
        var scanFrom = _start;
        while (true)
        {
            var idx = _buffer.AsSpan(scanFrom, _end - scanFrom).IndexOf("\r\n"u8);
            if (idx >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, scanFrom + idx - _start);
                _start = scanFrom + idx + 2;
                return line;
            }
            var consumedBefore = _start;
            scanFrom = Math.Max(_start, _end - 1);
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                throw new EndOfStreamException("peer closed inside a line");
            }
            scanFrom -= consumedBefore - _start;
        }
    }

    /// <summary>Discards exactly <paramref name="count"/> bytes (buffered first, then straight from the socket).</summary>
    public async ValueTask SkipAsync(long count, CancellationToken ct)
    {
        var left = count;
        var take = (int)Math.Min(Buffered, left);
        _start += take;
        left -= take;
        while (left > 0)
        {
            var n = await socket.ReceiveAsync(_buffer.AsMemory(0, (int)Math.Min(_buffer.Length, left)), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException($"peer closed after {count - left} of {count} body bytes");
            }
            left -= n;
        }
        _start = _end = 0;
    }

    /// <summary>Discards everything until the peer closes; returns the byte count.</summary>
    public async ValueTask<long> DrainAsync(CancellationToken ct)
    {
        long total = Buffered;
        _start = _end = 0;
        while (true)
        {
            var n = await socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                return total;
            }
            total += n;
        }
    }
}

internal sealed class HttpFormatException(string message) : IOException(message);
