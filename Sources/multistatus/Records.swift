import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient
import NIOHTTP1

/// `multistatus records create|update|upsert|delete TABLE FILE`: rows from a JSON or CSV file, in
/// as many batches as the server's item limit asks, one status per row.
struct Records: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, update, upsert or delete rows of a served table (or users), one status per row.",
        discussion: """
            FILE is a JSON array of rows (for delete: of keys), or a CSV file whose header row names the columns \
            (for delete: the key's parts); CSV values are typed by the table's schema in the server's /openapi.json, \
            an empty value being null where the column allows it. A CSV file is read as it is sent, in batches of the \
            server's item limit.
            """ + " " + ExitStatus.help)

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case create, update, upsert, delete
    }

    @Argument(help: "create (POST), update (PATCH), upsert (PUT) or delete (DELETE).")
    var action: Action

    @Argument(help: "A table the server serves, or users.")
    var table: String

    @Argument(help: "A .json or .csv file; - reads JSON from standard input.")
    var file: String

    @Flag(help: "All or nothing (one request: the rows must fit the item limit).")
    var atomic = false

    @OptionGroup var connection: ClientOptions
    @OptionGroup var output: OutputOptions

    /// The endpoint, method and list of the answer.
    private var endpoint: (path: String, method: HTTPMethod, collection: ResourceCollection) {
        let method: HTTPMethod = [.create: .POST, .update: .PATCH, .upsert: .PUT, .delete: .DELETE][self.action]!
        let list = [Action.create: "created", .update: "updates", .upsert: "upserts", .delete: "deletions"][self.action]!
        if self.table == "users" {
            let identifier = [Action.create: "email", .update: "id", .upsert: "id", .delete: "id"][self.action]!
            return ("/users", method, ResourceCollection(key: list, identifierKey: identifier, hrefPrefix: "/users/"))
        }
        let encoded = self.table.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-", "_", "."])) ?? self.table
        return ("/tables/" + encoded, method, ResourceCollection(key: list, identifierKey: "key", hrefPrefix: "/tables/\(encoded)/"))
    }

    func run() async throws {
        let endpoint = self.endpoint
        let answer = try await self.connection.withClient { client in
            let limit = try await ServerLimits.read(client).itemsPerBatch
            var answers: [ReceivedMultiStatus] = []
            func send(_ items: [JSONValue]) async throws {
                let batch = Batch(
                    endpoint.method, endpoint.path, items: items, collection: endpoint.collection, atomic: self.atomic,
                    idempotencyKey: UUID().uuidString)
                let first = try await self.send(batch, client: client)
                answers.append(first.isRefusedAtomicBatch ? first : try await self.retry(first, of: batch, client: client))
            }
            if self.file.hasSuffix(".csv") {
                let types = try await ColumnTypes.read(client, table: self.table)
                var reader = try CSVReader(path: self.file)
                guard let header = try reader.next() else { throw ValidationError("\(self.file) is empty") }
                var pending: [JSONValue] = []
                while let record = try reader.next() {
                    if self.atomic && pending.count == limit {
                        throw ValidationError("more rows than the server takes in one request (\(limit)); an atomic batch cannot be split")
                    }
                    if pending.count == limit {
                        try await send(pending)
                        pending = []
                    }
                    pending.append(try types.item(header: header, record: record, keysOnly: self.action == .delete))
                }
                if !pending.isEmpty { try await send(pending) }
            } else {
                let data = self.file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: self.file))
                guard case .array(let items) = try JSONValue.parse(data) else { throw ValidationError("\(self.file) is not a JSON array") }
                if self.atomic && items.count > limit {
                    throw ValidationError(
                        "\(items.count) rows are more than the server takes in one request (\(limit)); an atomic batch cannot be split")
                }
                for start in stride(from: 0, to: items.count, by: max(limit, 1)) {
                    try await send(Array(items[start..<min(start + limit, items.count)]))
                }
            }
            return ReceivedMultiStatus.merged(answers, collection: endpoint.collection)
        }
        try self.output.finish(answer)
    }

    /// Sends a batch: as a JSON array, or for a delete as `{"keys": […]}`.
    private func send(_ batch: Batch, client: MultiStatusHTTPClient, key: String? = nil) async throws -> ReceivedMultiStatus {
        guard self.action == .delete else { return try await client.send(batch, key: key) }
        var headers: [(String, String)] = batch.atomic ? [("Prefer", "atomic")] : []
        if let key = key ?? batch.idempotencyKey { headers.append(("Idempotency-Key", key)) }
        let body = JSONValue.object(["keys": .array(batch.items)]).jsonText
        return try await client.send(batch.method, batch.path, body: Array(body.utf8), collection: batch.collection, headers: headers)
    }

    /// `--retry`: the failed items that may pass, again; a delete's as `{"keys": […]}` too.
    private func retry(_ answer: ReceivedMultiStatus, of batch: Batch, client: MultiStatusHTTPClient) async throws -> ReceivedMultiStatus {
        guard self.action == .delete else { return try await client.retryFailed(answer, of: batch, policy: self.output.retryPolicy) }
        let results = try await MultiStatusHTTPClient.retrying(answer.items, policy: self.output.retryPolicy) { positions, attempt in
            var again = batch
            again.items = positions.map { batch.items[$0] }
            return try await self.send(again, client: client, key: batch.idempotencyKey.map { Batch.retryKey($0, attempt: attempt) }).items
        }
        var merged = ReceivedMultiStatus(collection: answer.collection, items: results, summary: Summary(counting: results))
        merged.status = answer.status
        return merged
    }
}

/// The JSON types of a table's columns, from the server's `/openapi.json`: how a CSV value is read.
struct ColumnTypes {
    /// Per column: its JSON Schema types (`integer`, `number`, `string`, `boolean`, `null`); empty for any JSON.
    var types: [String: Set<String>]

    /// The row schema of `table` (`Row_TABLE`, or `User` for users); no types when the server has none.
    static func read(_ client: MultiStatusHTTPClient, table: String) async throws -> ColumnTypes {
        let response = try await client.execute(.GET, "/openapi.json", accept: "application/json")
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok, case .object(let document)? = try? JSONValue.parse(body.readableBytesView),
            case .object(let components)? = document["components"], case .object(let schemas)? = components["schemas"],
            case .object(let schema)? = schemas[table == "users" ? "User" : "Row_" + table], case .object(let properties)? = schema["properties"]
        else { return ColumnTypes(types: [:]) }
        var types: [String: Set<String>] = [:]
        for (column, property) in properties {
            switch property.objectMembers["type"] {
            case .string(let type)?: types[column] = [type]
            case .array(let list)?: types[column] = Set(list.compactMap(\.stringValue))
            default: types[column] = []
            }
        }
        return ColumnTypes(types: types)
    }

    /// A CSV record as a row object; for `keysOnly`, as a key (a value, or the list of a key's parts).
    func item(header: [String], record: [String], keysOnly: Bool) throws -> JSONValue {
        guard record.count == header.count else {
            throw ValidationError("a CSV record has \(record.count) values for \(header.count) columns: \(record.joined(separator: ","))")
        }
        let values = zip(header, record).map { column, text in self.value(text, column: column) }
        if keysOnly { return values.count == 1 ? values[0] : .array(values) }
        return .object(Dictionary(zip(header, values), uniquingKeysWith: { first, _ in first }))
    }

    /// `text` as the column's type: a number, a boolean, JSON, null for an empty value where null
    /// is allowed; a string otherwise (the server says what is wrong with it).
    func value(_ text: String, column: String) -> JSONValue {
        let types = self.types[column] ?? ["string"]
        if text.isEmpty && (types.contains("null") || types.isEmpty) { return .null }
        if types.contains("integer"), let integer = Int(text) { return .int(integer) }
        if types.contains("number"), let number = Double(text), number.isFinite {
            return types.contains("string") ? .string(text) : Int(text).map(JSONValue.int) ?? .double(number)
        }
        if types.contains("boolean") {
            switch text.lowercased() {
            case "true", "1", "yes": return .bool(true)
            case "false", "0", "no": return .bool(false)
            default: break
            }
        }
        if types.isEmpty, let json = try? JSONValue.parse(Array(text.utf8)) { return json }
        return .string(text)
    }
}

/// A CSV file (RFC 4180) read record by record: quoted fields may hold commas, quotes (doubled)
/// and line breaks; a record ends at CRLF or LF.
struct CSVReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var ended = false
    /// A byte read ahead and given back.
    private var pushedBack: UInt8?

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("\(path) cannot be read") }
        self.handle = handle
    }

    private mutating func byte() throws -> UInt8? {
        if let byte = self.pushedBack {
            self.pushedBack = nil
            return byte
        }
        if self.position == self.buffer.count {
            guard !self.ended else { return nil }
            let chunk = try self.handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty {
                self.ended = true
                return nil
            }
            self.buffer = Array(chunk)
            self.position = 0
        }
        defer { self.position += 1 }
        return self.buffer[self.position]
    }

    /// The next record, or `nil` at the end; empty lines are skipped.
    mutating func next() throws -> [String]? {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var any = false
        while let byte = try self.byte() {
            any = true
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    // A doubled quote is a quote; a single one ends the quoted part.
                    let next = try self.byte()
                    if next == UInt8(ascii: "\"") {
                        field.append(byte)
                    } else {
                        quoted = false
                        self.pushedBack = next
                    }
                } else {
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): quoted = true
            case UInt8(ascii: ","):
                fields.append(String(decoding: field, as: UTF8.self))
                field = []
            case UInt8(ascii: "\r"): continue
            case UInt8(ascii: "\n"):
                if fields.isEmpty && field.isEmpty {
                    any = false
                    continue
                }
                fields.append(String(decoding: field, as: UTF8.self))
                return fields
            default: field.append(byte)
            }
        }
        guard any, !(fields.isEmpty && field.isEmpty) else { return nil }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }
}
