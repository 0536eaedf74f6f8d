public import Hummingbird
public import MultiStatus

/// The limits a batch's body is read within.
public struct BatchLimits: Sendable, Hashable {
    /// The most bytes of a JSON document body.
    public var documentBytes: Int
    /// The most items of one batch.
    public var items: Int

    public init(documentBytes: Int, items: Int) {
        self.documentBytes = documentBytes
        self.items = items
    }
}

/// Reads the JSON body of a batch request: the whole document within the byte limit, its items
/// within the item limit, with a precise 400/413 problem otherwise.
public enum BatchBody {
    /// The raw body, at most `limits.documentBytes` bytes of `application/json`.
    public static func collect(_ request: Request, limits: BatchLimits) async throws -> ByteBuffer {
        let mediaType = ContentType.essence(request.headers[.contentType])
        guard mediaType == "application/json" else {
            throw ProblemDetails(status: .unsupportedMediaType, detail: "the body must be application/json, not \(mediaType ?? "missing")")
        }
        do {
            return try await request.body.collect(upTo: limits.documentBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails.overLimit("a JSON body may be at most \(limits.documentBytes) bytes", limit: limits.documentBytes)
        }
    }

    /// Parses `body` as JSON.
    public static func parse(_ body: ByteBuffer) throws -> JSONValue {
        do {
            return try JSONValue.parse(body.readableBytesView)
        } catch {
            throw ProblemDetails.invalidJSON(error)
        }
    }

    /// The items of a batch: the top-level array, or the array under `key` when one is given.
    public static func items(_ document: JSONValue, under key: String? = nil, example: String, limits: BatchLimits) throws -> [JSONValue] {
        let list: JSONValue? = key.map { document.objectMembers[$0] } ?? document
        guard case .array(let items)? = list else {
            throw ProblemDetails(status: .badRequest, detail: "expected \(example)")
        }
        return try self.counted(items, example: example, limits: limits)
    }

    /// The items of a batch that is an array of objects read against `names` (rows of a table).
    public static func records(_ body: ByteBuffer, names: JSONRecords.Names, example: String, limits: BatchLimits) throws -> [JSONRecords.Element] {
        let records: [JSONRecords.Element]?
        do {
            records = try JSONRecords.parse(body.readableBytesView, names: names)
        } catch {
            throw ProblemDetails.invalidJSON(error)
        }
        guard let records else { throw ProblemDetails(status: .badRequest, detail: "expected \(example)") }
        return try self.counted(records, example: example, limits: limits)
    }

    /// `items`, once it is known to be neither empty (400) nor over the item limit (413).
    private static func counted<Item>(_ items: [Item], example: String, limits: BatchLimits) throws -> [Item] {
        guard !items.isEmpty else { throw ProblemDetails(status: .badRequest, detail: "the batch has no items; expected \(example)") }
        guard items.count <= limits.items else {
            throw ProblemDetails.overLimit("a batch may carry at most \(limits.items) items; this one has \(items.count)", limit: limits.items)
        }
        return items
    }
}

extension ProblemDetails {
    /// 400 for a request body that is not JSON, saying where and why.
    public static func invalidJSON(_ error: MultiStatusError) -> ProblemDetails {
        ProblemDetails(status: .badRequest, detail: "the body is not valid JSON: \(error.reason ?? error.description)")
    }
}
