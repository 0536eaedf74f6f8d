import Foundation
import Hummingbird
import MultiStatus

/// Reads the JSON body of a batch request: the whole document within the byte limit, its items
/// within the item limit, with a precise 400/413 problem otherwise.
enum BatchBody {
    /// The raw body, at most `limits.bytesPerDocument` bytes.
    static func collect(_ request: Request, limits: Limits) async throws -> ByteBuffer {
        let mediaType = FileTypes.essence(ofContentType: request.headers[.contentType])
        guard mediaType == "application/json" else {
            throw ProblemDetails(status: .unsupportedMediaType, detail: "the body must be application/json, not \(mediaType ?? "missing")")
        }
        do {
            return try await request.body.collect(upTo: limits.bytesPerDocument)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails.overLimit("a JSON body may be at most \(limits.bytesPerDocument) bytes", limit: limits.bytesPerDocument)
        }
    }

    /// Parses `body` as JSON.
    static func parse(_ body: ByteBuffer) throws -> JSONValue {
        do {
            return try JSONValue.parse(body.readableBytesView)
        } catch {
            throw ProblemDetails.invalidJSON(error)
        }
    }

    /// The items of a batch: the top-level array, or the array under `key` when one is given.
    static func items(_ document: JSONValue, under key: String? = nil, example: String, limits: Limits) throws -> [JSONValue] {
        let list: JSONValue? = key.map { document.objectMembers[$0] } ?? document
        guard case .array(let items)? = list else {
            throw ProblemDetails(status: .badRequest, detail: "expected \(example)")
        }
        return try self.counted(items, example: example, limits: limits)
    }

    /// The items of a batch that is an array of objects read against `names` (rows of a table).
    static func records(_ body: ByteBuffer, names: JSONRecords.Names, example: String, limits: Limits) throws -> [JSONRecords.Element] {
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
    private static func counted<Item>(_ items: [Item], example: String, limits: Limits) throws -> [Item] {
        guard !items.isEmpty else { throw ProblemDetails(status: .badRequest, detail: "the batch has no items; expected \(example)") }
        guard items.count <= limits.itemsPerBatch else {
            throw ProblemDetails.overLimit(
                "a batch may carry at most \(limits.itemsPerBatch) items; this one has \(items.count)",
                limit: limits.itemsPerBatch
            )
        }
        return items
    }
}

extension ProblemDetails {
    /// 400 for a request body that is not JSON, saying where and why.
    static func invalidJSON(_ error: MultiStatusError) -> ProblemDetails {
        ProblemDetails(status: .badRequest, detail: "the body is not valid JSON: \(error.reason ?? error.description)")
    }
}
