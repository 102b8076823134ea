using System.Buffers;
using System.IO.Pipelines;

namespace Bethrou.Libp2p.Multistream;

/// <summary>multistream-select 1.0.0 (libp2p-wire.md §4): the initiator proposes protocols one at a time, the
/// responder echoes the one it accepts or answers <c>na</c>. Bytes after the selected protocol's message are left in
/// the pipe untouched for the next layer (go's lazy select sends application data in the same packet).</summary>
public static class MultistreamSelect
{
    public const string ProtocolId = "/multistream/1.0.0";

    /// <summary>The responder gives up after this many messages (proposals and <c>ls</c>) without agreement.</summary>
    public const int MaxProposals = 32;

    private const string NotAvailable = "na";
    private const string List = "ls";
    private const string WrongNetworkHint = " — wrong private network key (PSK) or not a libp2p peer?";

    /// <summary>Initiator: writes the header and the first proposal in one flush (never waits for the remote header,
    /// which would deadlock against js), then tries the next protocol on each <c>na</c>.</summary>
    /// <returns>The protocol the remote accepted.</returns>
    /// <exception cref="NegotiationFailedException">All proposals were refused, or the remote misbehaved or closed.</exception>
    public static async ValueTask<string> SelectOneAsync(IDuplexPipe pipe, IReadOnlyList<string> protocols, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(protocols);
        if (protocols.Count == 0)
        {
            throw new ArgumentException("at least one protocol must be proposed", nameof(protocols));
        }
        var input = pipe.Input;
        var output = pipe.Output;

        MultistreamMessage.Write(output, ProtocolId);
        MultistreamMessage.Write(output, protocols[0]);
        await FlushAsync(output, ct).ConfigureAwait(false);

        var header = await ReadMessageAsync(input, isHeader: true, ct).ConfigureAwait(false)
            ?? throw new NegotiationFailedException($"multistream: the remote closed before sending the {ProtocolId} header" + WrongNetworkHint);
        if (header != ProtocolId)
        {
            throw NotTheHeader(header);
        }

        var index = 0;
        while (true)
        {
            var proposal = protocols[index];
            var answer = await ReadMessageAsync(input, isHeader: false, ct).ConfigureAwait(false)
                ?? throw new NegotiationFailedException($"multistream: the remote closed before answering the proposal '{proposal}'", Proposed(protocols, index));
            if (answer == proposal)
            {
                return proposal;
            }
            if (answer != NotAvailable)
            {
                throw new NegotiationFailedException(
                    $"multistream: the remote answered '{MultistreamMessage.Sanitize(answer)}' to the proposal '{proposal}' (expected the echo or 'na')",
                    Proposed(protocols, index));
            }
            index++;
            if (index == protocols.Count)
            {
                throw new NegotiationFailedException(
                    $"multistream: the remote refused every proposed protocol ({Quote(protocols)})", Proposed(protocols, index - 1));
            }
            MultistreamMessage.Write(output, protocols[index]);
            await FlushAsync(output, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Lazy ("optimistic") select, like go's lazy client: writes the header and the one proposal without
    /// flushing, so the caller's first application bytes go out in the same packet. Use only when the remote is known to
    /// speak the protocol (from identify); then call <see cref="ReadLazyAnswerAsync"/> before reading.</summary>
    public static void WriteLazyProposal(PipeWriter output, string protocol)
    {
        ArgumentNullException.ThrowIfNull(output);
        MultistreamMessage.Write(output, ProtocolId);
        MultistreamMessage.Write(output, protocol);
    }

    /// <summary>Reads the remote's header and its answer to a lazy proposal.</summary>
    /// <exception cref="NegotiationFailedException">The remote refused the protocol or misbehaved.</exception>
    public static async ValueTask ReadLazyAnswerAsync(PipeReader input, string protocol, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        var header = await ReadMessageAsync(input, isHeader: true, ct).ConfigureAwait(false)
            ?? throw new NegotiationFailedException($"multistream: the remote closed before sending the {ProtocolId} header" + WrongNetworkHint);
        if (header != ProtocolId)
        {
            throw NotTheHeader(header);
        }
        var answer = await ReadMessageAsync(input, isHeader: false, ct).ConfigureAwait(false)
            ?? throw new NegotiationFailedException($"multistream: the remote closed before answering the proposal '{protocol}'", [protocol]);
        if (answer != protocol)
        {
            throw new NegotiationFailedException(answer == NotAvailable
                ? $"multistream: the remote refused the protocol '{protocol}'"
                : $"multistream: the remote answered '{MultistreamMessage.Sanitize(answer)}' to the proposal '{protocol}' (expected the echo or 'na')", [protocol]);
        }
    }

    /// <summary><see cref="SelectOneAsync(IDuplexPipe, IReadOnlyList{string}, CancellationToken)"/> bounded by
    /// <paramref name="timeout"/> on <paramref name="time"/>; running out of time is a <see cref="NegotiationFailedException"/>.</summary>
    public static async ValueTask<string> SelectOneAsync(
        IDuplexPipe pipe, IReadOnlyList<string> protocols, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(time);
        using var timeoutSource = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutSource.Token);
        try
        {
            return await SelectOneAsync(pipe, protocols, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (timeoutSource.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new NegotiationFailedException(
                $"multistream: no agreement within {timeout.TotalSeconds:0.###} s (proposing {Quote(protocols)})", protocols, e);
        }
    }

    /// <summary>Responder: reads the header and proposals, echoes the first supported one, answers <c>na</c> to the
    /// others and the js-style list to <c>ls</c>.</summary>
    /// <remarks>Our header goes out as soon as we would otherwise wait for the remote: immediately when nothing
    /// is buffered yet (as go does; this is safe with any initiator, including one that waits for our header
    /// before proposing), but together with the answer when the initiator's header and proposal are already here
    /// (as js does; one packet instead of two, which matters on every new yamux stream). Both orders interoperate
    /// because go and js initiators send their header and proposal without waiting.</remarks>
    /// <returns>The selected protocol; the pipe is positioned right after its proposal.</returns>
    /// <exception cref="NegotiationFailedException">The remote closed without agreeing, misbehaved, or made more than
    /// <see cref="MaxProposals"/> proposals.</exception>
    public static async ValueTask<string> HandleAsync(IDuplexPipe pipe, IReadOnlyCollection<string> supported, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(supported);
        if (supported.Count == 0)
        {
            throw new ArgumentException("at least one protocol must be supported", nameof(supported));
        }
        var input = pipe.Input;
        var output = pipe.Output;
        var responder = new ResponderHeader(output);

        var header = await ReadMessageAsync(input, isHeader: true, ct, responder).ConfigureAwait(false)
            ?? throw new NegotiationFailedException($"multistream: the remote closed before sending the {ProtocolId} header" + WrongNetworkHint);
        if (header != ProtocolId)
        {
            throw NotTheHeader(header);
        }

        var proposed = new List<string>();
        while (true)
        {
            var message = await ReadMessageAsync(input, isHeader: false, ct, responder).ConfigureAwait(false);
            if (message is null)
            {
                throw new NegotiationFailedException(proposed.Count == 0
                    ? "multistream: the remote closed without proposing a protocol"
                    : $"multistream: the remote closed without agreeing on a protocol (it proposed {Quote(proposed)}; we support {Quote(supported)})",
                    proposed);
            }
            if (proposed.Count == MaxProposals)
            {
                throw new NegotiationFailedException(
                    $"multistream: the remote sent more than {MaxProposals} proposals without agreeing on a protocol", proposed);
            }
            proposed.Add(message);
            responder.WriteIfPending();
            if (supported.Contains(message))
            {
                MultistreamMessage.Write(output, message);
                await FlushAsync(output, ct).ConfigureAwait(false);
                return message;
            }
            if (message == List)
            {
                MultistreamMessage.WriteList(output, supported);
            }
            else
            {
                MultistreamMessage.Write(output, NotAvailable);
            }
            await FlushAsync(output, ct).ConfigureAwait(false);
        }
    }

    /// <summary><see cref="HandleAsync(IDuplexPipe, IReadOnlyCollection{string}, CancellationToken)"/> bounded by
    /// <paramref name="timeout"/> on <paramref name="time"/>; running out of time is a <see cref="NegotiationFailedException"/>.</summary>
    public static async ValueTask<string> HandleAsync(
        IDuplexPipe pipe, IReadOnlyCollection<string> supported, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(time);
        using var timeoutSource = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutSource.Token);
        try
        {
            return await HandleAsync(pipe, supported, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (timeoutSource.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new NegotiationFailedException($"multistream: the remote did not agree on a protocol within {timeout.TotalSeconds:0.###} s", e);
        }
    }

    /// <summary>Reads one message; null when the remote ended its direction first. Only the bytes of the message
    /// are consumed. While reading the header, bytes that cannot be the start of <c>/multistream/1.0.0</c> fail at
    /// once instead of waiting for a length that garbage (a wrong PSK) may announce.</summary>
    private static async ValueTask<string?> ReadMessageAsync(PipeReader input, bool isHeader, CancellationToken ct, ResponderHeader? responder = null)
    {
        // The responder first looks at what is already buffered, and sends its header before it would block.
        var mayTryRead = responder is not null && responder.Pending;
        while (true)
        {
            ReadResult result;
            if (!mayTryRead || !input.TryRead(out result))
            {
                if (responder is not null && responder.Pending)
                {
                    responder.WriteIfPending();
                    await FlushAsync(responder.Output, ct).ConfigureAwait(false);
                }
                result = await input.ReadAsync(ct).ConfigureAwait(false);
            }
            mayTryRead = false;

            var buffer = result.Buffer;
            var status = MultistreamMessage.TryRead(ref buffer, out var message, out var length);
            if (status == MultistreamReadStatus.Ok)
            {
                input.AdvanceTo(buffer.Start);
                return message;
            }
            buffer = result.Buffer;
            if (status != MultistreamReadStatus.NeedMoreData)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new NegotiationFailedException("multistream: " + MultistreamMessage.Describe(status, length) + (isHeader ? WrongNetworkHint : string.Empty));
            }
            if (isHeader && !IsHeaderPrefix(buffer))
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new NegotiationFailedException(
                    $"multistream: the remote did not start with the {ProtocolId} header (first bytes {FirstBytesHex(buffer)})" + WrongNetworkHint);
            }
            if (result.IsCompleted)
            {
                input.AdvanceTo(buffer.End);
                return null;
            }
            if (result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new OperationCanceledException("multistream: the pending read was canceled");
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async ValueTask FlushAsync(PipeWriter output, CancellationToken ct)
    {
        var result = await output.FlushAsync(ct).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new NegotiationFailedException("multistream: the connection was closed while negotiating (our output is no longer read)");
        }
    }

    private static NegotiationFailedException NotTheHeader(string header) =>
        new($"multistream: the remote sent '{MultistreamMessage.Sanitize(header)}' instead of the {ProtocolId} header" + WrongNetworkHint);

    // 0x13 "/multistream/1.0.0\n"
    private static ReadOnlySpan<byte> EncodedHeader => "\u0013/multistream/1.0.0\n"u8;

    private static bool IsHeaderPrefix(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[20];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        return head[..n].SequenceEqual(EncodedHeader[..n]);
    }

    private static string FirstBytesHex(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[8];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        return Convert.ToHexStringLower(head[..n]) + (buffer.Length > n ? "..." : string.Empty);
    }

    private static string Quote(IEnumerable<string> protocols) =>
        string.Join(", ", protocols.Select(p => $"'{MultistreamMessage.Sanitize(p)}'"));

    private static string[] Proposed(IReadOnlyList<string> protocols, int lastIndex) => protocols.Take(lastIndex + 1).ToArray();

    /// <summary>Tracks whether the responder has written its header yet.</summary>
    private sealed class ResponderHeader(PipeWriter output)
    {
        public PipeWriter Output { get; } = output;

        public bool Pending { get; private set; } = true;

        public void WriteIfPending()
        {
            if (Pending)
            {
                MultistreamMessage.Write(Output, ProtocolId);
                Pending = false;
            }
        }
    }
}
