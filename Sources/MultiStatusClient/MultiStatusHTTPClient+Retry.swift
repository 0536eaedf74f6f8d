import Foundation
public import MultiStatus
public import NIOHTTP1

/// A JSON batch as a client sends it: what is needed to send it again for the items that failed.
///
/// ```swift
/// let batch = Batch(.POST, "/file-operations", items: deletes, collection: operations, idempotencyKey: UUID().uuidString)
/// var answer = try await client.send(batch)
/// answer = try await client.retryFailed(answer, of: batch, policy: RetryPolicy(retries: 3))
/// ```
public struct Batch: Sendable {
    public var method: HTTPMethod
    public var path: String
    /// The request items, sent as a JSON array.
    public var items: [JSONValue]
    /// What the items are.
    public var collection: ResourceCollection
    /// `Prefer: atomic`: all or nothing.
    public var atomic: Bool
    /// Sent as `Idempotency-Key`; each retry sends a key derived from it (``retryKey(_:attempt:)``).
    public var idempotencyKey: String?

    public init(
        _ method: HTTPMethod, _ path: String, items: [JSONValue], collection: ResourceCollection, atomic: Bool = false,
        idempotencyKey: String? = nil
    ) {
        self.method = method
        self.path = path
        self.items = items
        self.collection = collection
        self.atomic = atomic
        self.idempotencyKey = idempotencyKey
    }

    /// The `Idempotency-Key` of retry `attempt` (1, 2, …) of a batch sent as `key`: a retry
    /// carries other items than the request before it, so it cannot reuse its key.
    public static func retryKey(_ key: String, attempt: Int) -> String { "\(key).retry-\(attempt)" }
}

/// How failed items are sent again: exponential backoff with jitter, at least what the items'
/// `retryAfter` ask for.
public struct RetryPolicy: Sendable {
    /// How many times failed items are sent again, at most.
    public var retries: Int
    /// The wait before the first retry; it doubles for each one after it.
    public var baseDelay: Duration
    /// The longest wait between attempts, `retryAfter` included.
    public var maxDelay: Duration

    public init(retries: Int, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30)) {
        self.retries = retries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before retry `attempt` (1, 2, …): the backoff, `baseDelay · 2^(attempt-1)`, with
    /// full jitter (a random part of it, so that clients refused together do not come back
    /// together), or `retryAfter` seconds when that is longer; never over `maxDelay`.
    public func delay(attempt: Int, retryAfter: Int?) -> Duration {
        let backoff = self.baseDelay * (1 << min(max(attempt - 1, 0), 20))
        let jittered = backoff * Double.random(in: 0.5...1.0)
        return min(max(jittered, .seconds(retryAfter ?? 0)), self.maxDelay)
    }
}

extension MultiStatusHTTPClient {
    /// Statuses of an item that may succeed if sent again unchanged (CONTRACT §6).
    public static var transientStatuses: Set<Int> { ItemResult.transientStatuses }

    /// Sends `batch` once.
    public func send(_ batch: Batch, key: String? = nil) async throws -> ReceivedMultiStatus {
        var headers: [(String, String)] = []
        if batch.atomic { headers.append(("Prefer", "atomic")) }
        if let key = key ?? batch.idempotencyKey { headers.append(("Idempotency-Key", key)) }
        return try await self.send(
            batch.method, batch.path, body: Array(JSONValue.array(batch.items).jsonText.utf8), collection: batch.collection, headers: headers)
    }

    /// Sends again, up to `policy.retries` times, only the items of `answer` that failed in a way
    /// that may pass (``ReceivedMultiStatus/retryable``), each retry after ``RetryPolicy/delay(attempt:retryAfter:)``
    /// and with its own `Idempotency-Key` derived from the batch's.
    ///
    /// An atomic batch refused whole is not retried (its items are 424s, not transient).
    /// - Returns: one item per request item, in request order, each from its last attempt.
    public func retryFailed(_ answer: ReceivedMultiStatus, of batch: Batch, policy: RetryPolicy) async throws -> ReceivedMultiStatus {
        guard answer.items.count == batch.items.count else {
            throw MultiStatusError.malformedBody("sent \(batch.items.count) items, got \(answer.items.count) back (was only=failed set?)")
        }
        var status = answer.status
        let results = try await Self.retrying(answer.items, policy: policy) { positions, attempt in
            var retry = batch
            retry.items = positions.map { batch.items[$0] }
            let again = try await self.send(retry, key: batch.idempotencyKey.map { Batch.retryKey($0, attempt: attempt) })
            status = again.status
            return again.items
        }
        var merged = ReceivedMultiStatus(collection: answer.collection, items: results, summary: Summary(counting: results))
        merged.status = results.allSatisfy(\.succeeded) ? .ok : status
        return merged
    }

    /// The retry loop of ``retryFailed(_:of:policy:)``, for any request: a multipart upload, a
    /// `{"keys": […]}` body. Up to `policy.retries` times, waits, then calls `resend` with the
    /// positions of the items still retryable and the attempt's number (1, 2, …); `resend`
    /// answers their outcomes in the same order.
    /// - Returns: `results`, each retried item replaced by its last outcome.
    public static func retrying(
        _ results: [ItemResult], policy: RetryPolicy, resend: (_ positions: [Int], _ attempt: Int) async throws -> [ItemResult]
    ) async throws -> [ItemResult] {
        var results = results
        for attempt in 1...max(1, policy.retries) where policy.retries > 0 {
            let pending = results.indices.filter { results[$0].isRetryable }
            guard !pending.isEmpty else { break }
            try await Task.sleep(for: policy.delay(attempt: attempt, retryAfter: pending.compactMap { results[$0].retryAfter }.max()))
            let again = try await resend(pending, attempt)
            guard again.count == pending.count else { throw MultiStatusError.malformedBody("sent \(pending.count) items, got \(again.count) back") }
            for (index, item) in zip(pending, again) { results[index] = item }
        }
        return results
    }

    /// Sends a JSON array batch and resends only the items that failed transiently, until they
    /// succeed, fail for good, or `maxAttempts` is reached.
    ///
    /// ```swift
    /// let result = try await client.sendBatch(.PATCH, "/users", items: updates, collection: .updates)
    /// ```
    /// - Parameters:
    ///   - method: the HTTP method.
    ///   - path: the batch endpoint.
    ///   - items: the request items, sent as a JSON array.
    ///   - collection: what the items are.
    ///   - maxAttempts: how many times an item is sent at most.
    ///   - maxDelay: the longest wait between attempts.
    public func sendBatch(
        _ method: HTTPMethod,
        _ path: String,
        items: [JSONValue],
        collection: ResourceCollection,
        maxAttempts: Int = 3,
        maxDelay: Duration = .seconds(30)
    ) async throws -> ReceivedMultiStatus {
        let batch = Batch(method, path, items: items, collection: collection)
        let first = try await self.send(batch)
        return try await self.retryFailed(first, of: batch, policy: RetryPolicy(retries: maxAttempts - 1, maxDelay: maxDelay))
    }
}
