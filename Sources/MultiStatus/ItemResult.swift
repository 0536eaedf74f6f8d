public import HTTPTypes

/// The outcome of one item of a batch: its identifier, status, message and details.
///
/// A failed item (status 400 or more) always carries a ``ProblemDetails``; when none is
/// given, one is made from the status.
///
/// ```swift
/// let created = ItemResult(id: "file1.txt", status: .created, location: "/files/file1.txt")
/// let refused = ItemResult(id: "../x", problem: ProblemDetails(status: .badRequest, detail: "file name must not contain '/'"))
/// ```
public struct ItemResult: Sendable, Hashable {
    /// The item's identifier, written under the collection's identifier key.
    public var id: JSONValue
    /// The item's own status.
    public private(set) var status: HTTPResponse.Status
    /// Human text; the reason phrase when there is nothing better.
    public var message: String
    /// What was wrong, for a failed item; `nil` for a successful one.
    public private(set) var problem: ProblemDetails?
    /// Where the item now lives, for created items.
    public var location: String?
    /// The item's entity tag, when it has one.
    public var etag: String?
    /// Seconds after which a transient failure may be retried.
    public var retryAfter: Int?
    /// The item's URL path for XML (`D:href`); derived from `location` or the identifier when `nil`.
    public var href: String?
    /// Endpoint-specific members (`size`, `sha256`, `version`, `latencyMs` …).
    public var fields: [String: JSONValue]

    /// Creates an item result.
    /// - Parameters:
    ///   - id: the identifier of the item in the request.
    ///   - status: the item's status (200…599).
    ///   - message: human text; defaults to the reason phrase.
    ///   - problem: details of a failure; made from `status` when it is 400 or more and none is given.
    ///   - location: where a created item lives.
    ///   - etag: the item's entity tag.
    ///   - retryAfter: seconds after which a transient failure may be retried.
    ///   - href: the item's URL path for XML.
    ///   - fields: endpoint-specific members.
    public init(
        id: JSONValue,
        status: HTTPResponse.Status,
        message: String? = nil,
        problem: ProblemDetails? = nil,
        location: String? = nil,
        etag: String? = nil,
        retryAfter: Int? = nil,
        href: String? = nil,
        fields: [String: JSONValue] = [:]
    ) {
        precondition((200...599).contains(status.code), "an item status is a final status, 200…599")
        self.id = id
        self.status = status
        self.message = message ?? status.reasonPhrase
        if status.code >= 400 {
            self.problem = problem ?? ProblemDetails(status: status)
        } else {
            self.problem = nil
        }
        self.location = location
        self.etag = etag
        self.retryAfter = retryAfter
        self.href = href
        self.fields = fields
    }

    /// Creates a failed item from the problem that describes its failure.
    public init(id: JSONValue, problem: ProblemDetails, message: String? = nil, retryAfter: Int? = nil, fields: [String: JSONValue] = [:]) {
        self.init(id: id, status: problem.status, message: message, problem: problem, retryAfter: retryAfter, fields: fields)
    }

    /// True when the status is 2xx.
    public var succeeded: Bool { self.status.kind == .successful }

    /// Statuses of an item that may succeed if sent again unchanged (CONTRACT §6).
    public static let transientStatuses: Set<Int> = [429, 503, 504, 507]

    /// True when the item failed in a way that may pass if sent again: 429, 503, 504 or 507, or
    /// any failure that carries `retryAfter`.
    public var isRetryable: Bool {
        !self.succeeded && (Self.transientStatuses.contains(self.status.code) || self.retryAfter != nil)
    }

    /// Replaces the outcome with another status, keeping identifier and fields; used by atomic mode.
    public mutating func setStatus(_ status: HTTPResponse.Status, message: String? = nil, problem: ProblemDetails? = nil) {
        self = ItemResult(id: self.id, status: status, message: message, problem: problem, href: self.href, fields: self.fields)
    }

    /// The `D:href` of this item: `href`, else `location`, else the collection's prefix and the encoded identifier.
    public func resolvedHref(in collection: ResourceCollection) -> String {
        if let href { return href }
        if let location { return location }
        return collection.hrefPrefix + PercentEncoding.encodePath(self.id.displayText)
    }
}

/// An error that knows which item status it stands for.
///
/// Throw one from a ``BatchRunner`` closure to fail that item with `problem.status`;
/// any other error fails the item with 500.
public protocol ItemFailure: Error {
    /// The problem that describes this item's failure.
    var problem: ProblemDetails { get }
    /// Seconds after which the same request may succeed, for a transient failure (a database
    /// that is down or busy); `nil`, the default, when retrying would fail the same way.
    var retryAfter: Int? { get }
}

extension ItemFailure {
    public var retryAfter: Int? { nil }
}

extension ProblemDetails: ItemFailure {
    public var problem: ProblemDetails { self }
}
