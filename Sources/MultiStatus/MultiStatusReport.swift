public import HTTPTypes

/// The counts written as `summary`: every item of the batch, whatever is listed.
public struct Summary: Sendable, Hashable, Codable {
    /// Number of items in the batch.
    public var total: Int
    /// Items with a 2xx status.
    public var succeeded: Int
    /// Items with any other status.
    public var failed: Int

    /// Creates a summary from counts.
    public init(total: Int, succeeded: Int, failed: Int) {
        self.total = total
        self.succeeded = succeeded
        self.failed = failed
    }

    /// Counts the given items.
    public init(counting items: some Sequence<ItemResult>) {
        var total = 0
        var succeeded = 0
        for item in items {
            total += 1
            if item.succeeded { succeeded += 1 }
        }
        self.init(total: total, succeeded: succeeded, failed: total - succeeded)
    }

    /// Adds one item to the counts.
    public mutating func count(_ item: ItemResult) {
        self.total += 1
        if item.succeeded { self.succeeded += 1 } else { self.failed += 1 }
    }
}

/// Why a multi-status report could not be made.
public struct MultiStatusError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case emptyBatch
        case malformedBody(String)
    }
    private let code: Code

    /// A 207 needs at least one item.
    public static let emptyBatch = MultiStatusError(code: .emptyBatch)
    /// A body that a reader could not read as a multi-status report.
    public static func malformedBody(_ reason: String) -> MultiStatusError { MultiStatusError(code: .malformedBody(reason)) }

    /// What was wrong with a malformed body; nil for other errors.
    public var reason: String? {
        if case .malformedBody(let reason) = self.code { return reason }
        return nil
    }

    public var description: String {
        switch self.code {
        case .emptyBatch: "a multi-status report needs at least one item"
        case .malformedBody(let reason): "not a multi-status body: \(reason)"
        }
    }
}

/// One request's outcome: the per-item results, in request order, and the envelope status.
///
/// The envelope is `207 Multi-Status`, except in atomic mode (see ``atomic(_:)``).
/// A report cannot be empty, so an ill-formed 207 cannot be built.
///
/// ```swift
/// let report = try MultiStatusReport(collection: .files, items: results)
/// let body = report.encoded(as: .json)
/// ```
public struct MultiStatusReport: Sendable, Hashable {
    /// What the items are.
    public let collection: ResourceCollection
    /// The items, in request order, one per request item.
    public private(set) var items: [ItemResult]
    /// The status of the response as a whole.
    public private(set) var status: HTTPResponse.Status

    /// Creates a 207 report.
    /// - Throws: ``MultiStatusError/emptyBatch`` when `items` is empty.
    public init(collection: ResourceCollection, items: [ItemResult]) throws(MultiStatusError) {
        guard !items.isEmpty else { throw .emptyBatch }
        self.collection = collection
        self.items = items
        self.status = .multiStatus
    }

    /// Rebuilds a report that was answered before (a stored idempotent response).
    /// - Throws: ``MultiStatusError/emptyBatch`` without items, or `malformedBody` when `status` does not fit the
    ///   items: 207 always fits, 200 only when every item succeeded, 4xx/5xx only when one failed.
    public init(restoring collection: ResourceCollection, items: [ItemResult], status: HTTPResponse.Status) throws(MultiStatusError) {
        try self.init(collection: collection, items: items)
        let allSucceeded = items.allSatisfy(\.succeeded)
        switch status.code {
        case 207: break
        case 200 where allSucceeded: break
        case 400...599 where !allSucceeded: break
        default: throw .malformedBody("status \(status.code) does not fit the items")
        }
        self.status = status
    }

    /// Counts over all items.
    public var summary: Summary { Summary(counting: self.items) }

    /// The all-or-nothing form of a batch (`Prefer: atomic`).
    ///
    /// When every item succeeded: the envelope is `200 OK` and the items are unchanged.
    /// Otherwise nothing was applied: the envelope takes the first failing item's status,
    /// and every item that had succeeded becomes `424 Failed Dependency`.
    public static func atomic(collection: ResourceCollection, items: [ItemResult]) throws(MultiStatusError) -> MultiStatusReport {
        var report = try MultiStatusReport(collection: collection, items: items)
        guard let firstFailure = items.firstIndex(where: { !$0.succeeded }) else {
            report.status = .ok
            return report
        }
        let failedID = items[firstFailure].id.displayText
        for index in report.items.indices where report.items[index].succeeded {
            report.items[index].setStatus(
                .failedDependency,
                problem: ProblemDetails(
                    status: .failedDependency,
                    detail: "not applied: item \(firstFailure) (\(failedID)) failed and the batch is atomic"
                )
            )
        }
        report.status = items[firstFailure].status
        return report
    }
}
