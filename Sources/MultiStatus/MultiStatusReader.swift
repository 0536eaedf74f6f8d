import Foundation
import HTTPTypes

/// A multi-status body as a client reads it.
///
/// Unlike ``MultiStatusReport`` its list may be empty: a `?only=failed` body whose items all succeeded.
public struct ReceivedMultiStatus: Sendable, Hashable {
    /// What the items are.
    public var collection: ResourceCollection
    /// The listed items, in the order the body gives them.
    public var items: [ItemResult]
    /// The summary from the body; counted from the items when the format has none (XML).
    public var summary: Summary
    /// For NDJSON, each listed item's position in the request.
    public var indices: [Int]?
    /// The answer's status line, when the body was read from one: 207, `200` for an atomic batch
    /// applied whole, or the failing item's status for an atomic batch refused (CONTRACT §5).
    public var status: HTTPResponse.Status?

    /// Creates a received body from its parts.
    public init(collection: ResourceCollection, items: [ItemResult], summary: Summary, indices: [Int]? = nil) {
        self.collection = collection
        self.items = items
        self.summary = summary
        self.indices = indices
    }

    /// The listed items that did not succeed: what to retry or fix.
    public var failedItems: [ItemResult] { self.items.filter { !$0.succeeded } }
    /// The listed items that succeeded.
    public var succeeded: [ItemResult] { self.items.filter(\.succeeded) }
    /// The same as ``failedItems``.
    public var failed: [ItemResult] { self.failedItems }
    /// The failed items that may pass if sent again (``ItemResult/isRetryable``).
    public var retryable: [ItemResult] { self.items.filter(\.isRetryable) }
    /// True when this is an atomic batch that was refused whole: its status line is the failing
    /// item's, and nothing was applied.
    public var isRefusedAtomicBatch: Bool { self.status.map { $0.kind != .successful } ?? false }
}

/// Reads multi-status bodies written by this library or any server that follows CONTRACT §2–4.
///
/// ```swift
/// let body = try MultiStatusReader.read(bytes, format: .json)
/// for item in body.failedItems { print(item.id, item.status.code, item.problem?.detail ?? "") }
/// ```
public enum MultiStatusReader {
    /// Reads a body.
    /// - Parameters:
    ///   - bytes: the response body.
    ///   - format: its format (from `Content-Type`, see ``format(contentType:)``).
    ///   - collection: what the items are; inferred from the list key for JSON when `nil`.
    public static func read(
        _ bytes: some Collection<UInt8>,
        format: MultiStatusFormat,
        collection: ResourceCollection? = nil
    ) throws(MultiStatusError) -> ReceivedMultiStatus {
        switch format {
        case .json: try self.readJSON(Data(bytes), collection: collection)
        case .ndjson: try self.readNDJSON(Data(bytes), collection: collection)
        case .xml: try self.readXML(bytes, collection: collection)
        }
    }

    /// The format of a `Content-Type`, or `nil` when it is none of the three.
    public static func format(contentType: String) -> MultiStatusFormat? {
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        return MultiStatusFormat.allCases.first { $0.mediaTypes.contains(mediaType) }
    }

    private static func decodeJSON(_ data: Data) throws(MultiStatusError) -> JSONValue {
        try JSONValue.parse(data)
    }

    private static func readJSON(_ data: Data, collection: ResourceCollection?) throws(MultiStatusError) -> ReceivedMultiStatus {
        guard case .object(let top) = try self.decodeJSON(data) else { throw .malformedBody("top level is not an object") }
        let listKeys = top.filter { if case .array = $0.value { true } else { false } }.map(\.key)
        let resolved: ResourceCollection
        if let collection {
            resolved = collection
        } else if listKeys.count == 1, let key = listKeys.first {
            resolved =
                ResourceCollection.known.first { $0.key == key }
                ?? ResourceCollection(key: key, identifierKey: "id", hrefPrefix: "/\(key)/")
        } else {
            throw .malformedBody("expected exactly one item list, found \(listKeys.count)")
        }
        guard case .array(let list) = top[resolved.key] else { throw .malformedBody("no \"\(resolved.key)\" list") }
        let items = try list.map { (value) throws(MultiStatusError) in try self.item(fromJSON: value, collection: resolved).item }
        let summary = try top["summary"].map { (value) throws(MultiStatusError) in try self.summary(fromJSON: value) }
        return ReceivedMultiStatus(collection: resolved, items: items, summary: summary ?? Summary(counting: items))
    }

    private static func readNDJSON(_ data: Data, collection: ResourceCollection?) throws(MultiStatusError) -> ReceivedMultiStatus {
        var items: [ItemResult] = []
        var indices: [Int] = []
        var summary: Summary?
        var resolved = collection
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == 13 }) {
            guard summary == nil else { throw .malformedBody("a line follows the summary") }
            guard case .object(let members) = try self.decodeJSON(Data(line)) else { throw .malformedBody("a line is not an object") }
            if let value = members["summary"], members.count == 1 {
                summary = try self.summary(fromJSON: value)
                continue
            }
            if resolved == nil {
                resolved =
                    ResourceCollection.known.first { members[$0.identifierKey] != nil }
                    ?? ResourceCollection(key: "items", identifierKey: "id", hrefPrefix: "/")
            }
            let (item, index) = try self.item(fromJSON: .object(members), collection: resolved!)
            guard let index else { throw .malformedBody("an NDJSON item has no index") }
            items.append(item)
            indices.append(index)
        }
        guard let summary else { throw .malformedBody("the stream ended without a summary line") }
        return ReceivedMultiStatus(
            collection: resolved ?? ResourceCollection(key: "items", identifierKey: "id", hrefPrefix: "/"),
            items: items,
            summary: summary,
            indices: indices
        )
    }

    /// One line of an NDJSON body (CONTRACT §4): an item with its position in the request, or the summary.
    public enum NDJSONLine: Sendable, Hashable {
        case item(ItemResult, index: Int)
        case summary(Summary)
    }

    /// Reads one line of an NDJSON body, for a client that reads the items as they arrive.
    /// - Returns: `nil` for a blank line.
    public static func readNDJSONLine(_ line: some Collection<UInt8>, collection: ResourceCollection) throws(MultiStatusError) -> NDJSONLine? {
        guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == 13 }) else { return nil }
        guard case .object(let members) = try self.decodeJSON(Data(line)) else { throw .malformedBody("a line is not an object") }
        if let value = members["summary"], members.count == 1 { return .summary(try self.summary(fromJSON: value)) }
        let (item, index) = try self.item(fromJSON: .object(members), collection: collection)
        guard let index else { throw .malformedBody("an NDJSON item has no index") }
        return .item(item, index: index)
    }

    private static func summary(fromJSON value: JSONValue) throws(MultiStatusError) -> Summary {
        guard case .object(let members) = value, let total = members["total"]?.intValue,
            let succeeded = members["succeeded"]?.intValue, let failed = members["failed"]?.intValue
        else { throw .malformedBody("summary needs integer total, succeeded and failed") }
        return Summary(total: total, succeeded: succeeded, failed: failed)
    }

    private static func status(_ code: Int?) throws(MultiStatusError) -> HTTPResponse.Status {
        guard let code, (200...599).contains(code) else { throw .malformedBody("an item has no valid status") }
        return HTTPResponse.Status(standardCode: code)
    }

    private static func item(
        fromJSON value: JSONValue,
        collection: ResourceCollection
    ) throws(MultiStatusError) -> (item: ItemResult, index: Int?) {
        guard case .object(var members) = value else { throw .malformedBody("an item is not an object") }
        guard let id = members.removeValue(forKey: collection.identifierKey) else {
            throw .malformedBody("an item has no \"\(collection.identifierKey)\"")
        }
        let status = try self.status(members.removeValue(forKey: "status")?.intValue)
        let message = members.removeValue(forKey: "message")?.stringValue
        let problem = members.removeValue(forKey: "error").flatMap(ProblemDetails.init(json:))
        let location = members.removeValue(forKey: "location")?.stringValue
        let etag = members.removeValue(forKey: "etag")?.stringValue
        let retryAfter = members.removeValue(forKey: "retryAfter")?.intValue
        let index = members.removeValue(forKey: "index")?.intValue
        let item = ItemResult(
            id: id, status: status, message: message, problem: problem, location: location, etag: etag,
            retryAfter: retryAfter, fields: members
        )
        return (item, index)
    }

    private static func readXML(_ bytes: some Collection<UInt8>, collection: ResourceCollection?) throws(MultiStatusError) -> ReceivedMultiStatus {
        let root: XMLElementNode
        do {
            root = try XMLElementTreeParser(maxBytes: Int.max).parse(bytes)
        } catch {
            throw .malformedBody(error.description)
        }
        guard root.namespace == "DAV:", root.name == "multistatus" else { throw .malformedBody("root is not DAV:multistatus") }
        let resolved = collection ?? ResourceCollection(key: "responses", identifierKey: "href", hrefPrefix: "")
        let ext = MultiStatusEncoder.extensionNamespace
        let items = try root.children("DAV:", "response").map { (response) throws(MultiStatusError) -> ItemResult in
            guard let href = response.child("DAV:", "href")?.text.trimmingWhitespace() else {
                throw .malformedBody("a response has no href")
            }
            // A status line is `HTTP/1.1 201 Created`: the code is the second token. A PROPFIND
            // response has one per propstat instead: the resource is there (200) when any is 2xx.
            let code = { (node: XMLElementNode?) in node?.child("DAV:", "status")?.text.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
            let propstats = response.children("DAV:", "propstat")
            let propstatCodes = propstats.map(code)
            let status = try self.status(
                code(response) ?? (propstatCodes.contains { ($0 ?? 0) / 100 == 2 } ? 200 : propstatCodes.first ?? nil))
            let problem = response.child("DAV:", "error")?.child(MultiStatusEncoder.problemNamespace, "problem").map { node in
                var members: [String: JSONValue] = [:]
                for child in node.children where child.namespace == MultiStatusEncoder.problemNamespace {
                    members[child.name] = child.name == "status" ? Int(child.text).map(JSONValue.int) ?? .null : .string(child.text)
                }
                for field in node.children(ext, "field") {
                    if let name = field.attribute(localName: "name") { members[name] = self.typedValue(field) }
                }
                return ProblemDetails(json: .object(members)) ?? ProblemDetails(status: status)
            }
            var fields: [String: JSONValue] = [:]
            for field in response.children(ext, "field") {
                if let name = field.attribute(localName: "name") { fields[name] = self.typedValue(field) }
            }
            // The properties found (2xx propstats): `getcontentlength`, `{urn:x}color`, … as text;
            // a property of elements (`resourcetype`) as their names.
            for (propstat, code) in zip(propstats, propstatCodes) where (code ?? 0) / 100 == 2 {
                for property in propstat.child("DAV:", "prop")?.children ?? [] {
                    let name = property.namespace == "DAV:" ? property.name : "{\(property.namespace)}\(property.name)"
                    let value = property.children.isEmpty ? property.text : property.children.map(\.name).joined(separator: " ")
                    fields[name] = .string(value.trimmingWhitespace())
                }
            }
            let location = response.child("DAV:", "location")?.child("DAV:", "href")?.text
            let id = response.child(ext, "id").map(self.typedValue) ?? .string(PercentEncoding.decode(href) ?? href)
            var item = ItemResult(
                id: id,
                status: status,
                message: response.child("DAV:", "responsedescription")?.text,
                problem: problem,
                location: location,
                etag: response.child(ext, "etag")?.text,
                retryAfter: response.child(ext, "retryAfter").flatMap { Int($0.text) },
                fields: fields
            )
            // Keep `href` only where it says more than the location or identifier already do.
            if item.resolvedHref(in: resolved) != href { item.href = href }
            return item
        }
        return ReceivedMultiStatus(collection: resolved, items: items, summary: Summary(counting: items))
    }

    private static func typedValue(_ node: XMLElementNode) -> JSONValue {
        switch XMLFieldType(rawValue: node.attribute(localName: "type") ?? "string") ?? .string {
        case .string: .string(node.text)
        case .integer: Int(node.text).map(JSONValue.int) ?? .string(node.text)
        case .number: Double(node.text).map(JSONValue.double) ?? .string(node.text)
        case .boolean: .bool(node.text == "true")
        case .null: .null
        case .json: (try? JSONValue.parse(Array(node.text.utf8))) ?? .string(node.text)
        }
    }
}
