import Foundation
public import MultiStatus
public import NIOHTTP1

extension MultiStatusHTTPClient {
    /// Statuses of an item that may succeed if sent again unchanged (CONTRACT §6).
    public static let transientStatuses: Set<Int> = [429, 503, 504, 507]

    /// Sends a JSON array batch and resends only the items that failed transiently, until they
    /// succeed, fail for good, or `maxAttempts` is reached.
    ///
    /// Each resend carries only the items still failing transiently, after the largest
    /// `retryAfter` they asked for (capped by `maxDelay`). The answer has one item per request
    /// item, in request order, each from its last attempt.
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
        var results = [ItemResult?](repeating: nil, count: items.count)
        var pending = Array(items.indices)
        for attempt in 1...max(1, maxAttempts) {
            let body = Array(JSONValue.array(pending.map { items[$0] }).jsonText.utf8)
            let answer = try await self.send(method, path, body: body, collection: collection)
            guard answer.items.count == pending.count else {
                throw MultiStatusError.malformedBody("sent \(pending.count) items, got \(answer.items.count) back (was only=failed set?)")
            }
            var retry: [Int] = []
            var wait = 0
            for (index, item) in zip(pending, answer.items) {
                results[index] = item
                if Self.transientStatuses.contains(item.status.code) {
                    retry.append(index)
                    wait = max(wait, item.retryAfter ?? 1)
                }
            }
            pending = retry
            guard !pending.isEmpty, attempt < maxAttempts else { break }
            try await Task.sleep(for: min(.seconds(wait), maxDelay))
        }
        let final = results.map { $0! }
        return ReceivedMultiStatus(collection: collection, items: final, summary: Summary(counting: final))
    }
}
