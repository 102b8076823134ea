using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;

namespace Bethrou.Discovery;

/// <summary>Discovery log events (EventIds 3000-3099). Endpoints are logged without credentials; passwords never.</summary>
internal static partial class DiscoveryLog
{
    [LoggerMessage(3000, LogLevel.Debug, "Connecting to Redis {Endpoints} as user {User}", EventName = "RedisConnecting")]
    public static partial void Connecting(ILogger logger, string endpoints, string user);

    [LoggerMessage(3001, LogLevel.Warning, "Redis {Endpoints} is unreachable ({ErrorType}: {Error}); continuing with what is known and retrying in the background", EventName = "RedisUnreachable")]
    public static partial void Unreachable(ILogger logger, string endpoints, string errorType, string error);

    [LoggerMessage(3002, LogLevel.Information, "Announced {Peer} on discovery topic {Topic} with {AddressCount} address(es), seq {Seq}", EventName = "Announced")]
    public static partial void Announced(ILogger logger, PeerId peer, string topic, int addressCount, ulong seq);

    [LoggerMessage(3003, LogLevel.Warning, "Discovery announcement of {Peer} failed ({Error}); retrying", EventName = "AnnounceFailed")]
    public static partial void AnnounceFailed(ILogger logger, PeerId peer, string error);

    [LoggerMessage(3004, LogLevel.Debug, "Discovery announcement of {Peer} failed again (attempt {Attempt}: {Error}); next try in {DelayMs} ms", EventName = "AnnounceRetryFailed")]
    public static partial void AnnounceRetryFailed(ILogger logger, PeerId peer, int attempt, string error, long delayMs);

    [LoggerMessage(3005, LogLevel.Information, "Discovery announcement of {Peer} works again after {Attempts} failed attempt(s)", EventName = "AnnounceRecovered")]
    public static partial void AnnounceRecovered(ILogger logger, PeerId peer, int attempts);

    [LoggerMessage(3006, LogLevel.Information, "Withdrew {Peer} from discovery topic {Topic}", EventName = "Withdrawn")]
    public static partial void Withdrawn(ILogger logger, PeerId peer, string topic);

    [LoggerMessage(3007, LogLevel.Warning, "Could not withdraw {Peer} from discovery ({Error}); its record expires on its own within the TTL", EventName = "WithdrawFailed")]
    public static partial void WithdrawFailed(ILogger logger, PeerId peer, string error);

    [LoggerMessage(3008, LogLevel.Warning, "Announcing {Peer} with no dialable address: set announce addresses, or include private ones for a LAN", EventName = "NoAddresses")]
    public static partial void NoAddresses(ILogger logger, PeerId peer);

    [LoggerMessage(3009, LogLevel.Warning, "Lost the Redis {ConnectionType} connection to {Endpoint} ({FailureType}); reconnecting", EventName = "RedisConnectionLost")]
    public static partial void ConnectionLost(ILogger logger, string connectionType, string endpoint, string failureType);

    [LoggerMessage(3010, LogLevel.Information, "Redis {ConnectionType} connection to {Endpoint} restored", EventName = "RedisConnectionRestored")]
    public static partial void ConnectionRestored(ILogger logger, string connectionType, string endpoint);

    [LoggerMessage(3011, LogLevel.Debug, "Answered a Go discover request on {ReplyChannel}", EventName = "GoRequestAnswered")]
    public static partial void GoRequestAnswered(ILogger logger, string replyChannel);

    [LoggerMessage(3012, LogLevel.Debug, "Ignored a malformed message on {Channel}: {Error}", EventName = "MalformedMessage")]
    public static partial void MalformedMessage(ILogger logger, string channel, string error);

    [LoggerMessage(3013, LogLevel.Warning, "Rejected a discovery record from {Source}: {Error}", EventName = "RecordRejected")]
    public static partial void RecordRejected(ILogger logger, string source, string error);

    /// <summary>The same for pub/sub messages, at Debug: anyone who can publish could otherwise flood the log.</summary>
    [LoggerMessage(3030, LogLevel.Debug, "Rejected a discovery record from {Source}: {Error}", EventName = "MessageRecordRejected")]
    public static partial void MessageRecordRejected(ILogger logger, string source, string error);

    public static void Rejected(ILogger logger, bool fromKey, string source, string error)
    {
        if (fromKey)
        {
            RecordRejected(logger, source, error);
        }
        else
        {
            MessageRecordRejected(logger, source, error);
        }
    }

    [LoggerMessage(3014, LogLevel.Debug, "Discovered node {Peer} ({Sources}, {AddressCount} address(es))", EventName = "NodeJoined")]
    public static partial void NodeJoined(ILogger logger, PeerId peer, NodeSources sources, int addressCount);

    [LoggerMessage(3015, LogLevel.Debug, "Node {Peer} updated ({Sources}, {AddressCount} address(es))", EventName = "NodeUpdated")]
    public static partial void NodeUpdated(ILogger logger, PeerId peer, NodeSources sources, int addressCount);

    [LoggerMessage(3016, LogLevel.Debug, "Node {Peer} left ({Reason})", EventName = "NodeLeft")]
    public static partial void NodeLeft(ILogger logger, PeerId peer, NodeLeftReason reason);

    [LoggerMessage(3017, LogLevel.Information, "Discovery directory on topic {Topic} started with {Count} node(s) in {ElapsedMs} ms", EventName = "DirectoryStarted")]
    public static partial void DirectoryStarted(ILogger logger, string topic, int count, long elapsedMs);

    [LoggerMessage(3018, LogLevel.Warning, "Reading the discovery records failed ({Error}); keeping the {Count} known node(s) and retrying", EventName = "ScanFailed")]
    public static partial void ScanFailed(ILogger logger, string error, int count);

    [LoggerMessage(3019, LogLevel.Debug, "Checking {Count} node record(s) failed ({Error}); keeping them, next check in {DelayMs} ms", EventName = "CheckFailed")]
    public static partial void CheckFailed(ILogger logger, int count, string error, long delayMs);

    [LoggerMessage(3020, LogLevel.Debug, "Go discover round failed ({Error})", EventName = "GoRoundFailed")]
    public static partial void GoRoundFailed(ILogger logger, string error);

    [LoggerMessage(3021, LogLevel.Warning, "A discovery change handler threw", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(3022, LogLevel.Debug, "Subscribing to {Channel} failed for now ({Error}); the subscription is re-established when Redis is back", EventName = "SubscribeDeferred")]
    public static partial void SubscribeDeferred(ILogger logger, string channel, string error);

    [LoggerMessage(3023, LogLevel.Debug, "Ignored record of {Peer} with seq {Seq}: seq {KnownSeq} is already known", EventName = "StaleRecord")]
    public static partial void StaleRecord(ILogger logger, PeerId peer, ulong seq, ulong knownSeq);

    [LoggerMessage(3024, LogLevel.Debug, "Ignored a Go discover reply: {Error}", EventName = "GoReplyRejected")]
    public static partial void GoReplyRejected(ILogger logger, string error);

    [LoggerMessage(3025, LogLevel.Error, "Discovery background task {Task} failed", EventName = "BackgroundFault")]
    public static partial void BackgroundFault(ILogger logger, string task, Exception exception);

    [LoggerMessage(3026, LogLevel.Debug, "Discovery rescan read {Count} record key(s) in {ElapsedMs} ms", EventName = "Rescanned")]
    public static partial void Rescanned(ILogger logger, int count, long elapsedMs);

    [LoggerMessage(3027, LogLevel.Debug, "Answering a Go discover request failed ({Error})", EventName = "GoAnswerFailed")]
    public static partial void GoAnswerFailed(ILogger logger, string error);

    [LoggerMessage(3029, LogLevel.Debug, "Did not answer a Go discover request on {ReplyChannel}: over the answer rate limit", EventName = "GoAnswerThrottled")]
    public static partial void GoAnswerThrottled(ILogger logger, string replyChannel);

    [LoggerMessage(3028, LogLevel.Debug, "Ignored discovery key {Key}: {Error}", EventName = "BadKey")]
    public static partial void BadKey(ILogger logger, string key, string error);
}

/// <summary>Observes background tasks so that no fault goes unlogged (no fire-and-forget).</summary>
internal static class TaskObserver
{
    public static void Observe(Task task, ILogger logger, string what)
    {
        if (task.IsCompletedSuccessfully)
        {
            return;
        }
        task.ContinueWith(
            static (t, state) =>
            {
                var (l, w) = ((ILogger, string))state!;
                DiscoveryLog.BackgroundFault(l, w, t.Exception!.GetBaseException());
            },
            (logger, what),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
