import MultiStatus
import SQLKit

/// The SQL of a served table, for both engines. Every identifier comes from the catalog and is
/// quoted; every value travels in one JSON parameter (see `Database+JSONBatch`), whose objects
/// name columns by position (`c3`) so that no column name is ever written into a JSON path.
struct TableStatements: Sendable {
    let schema: TableSchema
    let engine: Database.Engine
    /// `,"c<k>":` for each column k: what precedes its value in a batch parameter row.
    private let memberPrefixes: [String]

    init(schema: TableSchema, engine: Database.Engine) {
        self.schema = schema
        self.engine = engine
        self.memberPrefixes = schema.columns.indices.map { ",\"c\($0)\":" }
    }

    /// `name` as an SQL identifier.
    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    var table: String { self.schema.qualifiedName }

    func column(_ index: Int) -> String { Self.quote(self.schema.columns[index].name) }

    // MARK: - Batch parameters

    /// A JSON array of batch rows, each `{"i": <item index>, "c<column>": <value>, …}`, written
    /// into one string as rows are added.
    struct Batch {
        fileprivate let prefixes: [String]
        private(set) var count = 0
        private var text = "["

        fileprivate init(prefixes: [String], capacity: Int) {
            self.prefixes = prefixes
            self.text.reserveCapacity(capacity)
        }

        /// Adds the row of item `index`: `values` of `columns`, in that order.
        mutating func append(index: Int, columns: some Collection<Int>, values: some Collection<JSONValue>) {
            self.text += self.count == 0 ? "{\"i\":" : ",{\"i\":"
            self.text += String(index)
            for (column, value) in zip(columns, values) {
                self.text += self.prefixes[column]
                value.writeJSON(into: &self.text)
            }
            self.text += "}"
            self.count += 1
        }

        /// The finished array.
        var json: String { self.text + "]" }
    }

    /// A new, empty batch parameter; `rows` and `columns` size its text.
    func batch(rows: Int = 0, columns: Int = 1) -> Batch {
        Batch(prefixes: self.memberPrefixes, capacity: rows * (12 + 16 * columns))
    }

    /// The batch parameter of `keys`, each row's index its position.
    func keysBatch(_ keys: [[JSONValue]]) -> String {
        var batch = self.batch(rows: keys.count, columns: self.schema.key.count)
        for (index, key) in keys.enumerated() { batch.append(index: index, columns: self.schema.key, values: key) }
        return batch.json
    }

    /// A `FROM` item `v` with a column `i` and a column `c<k>` of each column's own type for `columns`.
    func rows(ofJSON json: String, columns: [Int]) -> SQLQueryString {
        switch self.engine {
        case .sqlite:
            let selected = (["value ->> '$.i' AS i"] + columns.map { "value ->> '$.c\($0)' AS c\($0)" }).joined(separator: ", ")
            return "(SELECT \(unsafeRaw: selected) FROM jsonb_each(\(bind: json))) AS v"
        case .postgres:
            let declared = (["i integer"] + columns.map { "c\($0) \(self.schema.columns[$0].sqlType)" }).joined(separator: ", ")
            return "jsonb_to_recordset(\(bind: json)::jsonb) AS v(\(unsafeRaw: declared))"
        }
    }

    /// `t.col = v.c<col>` for each column, joined by AND.
    func matching(_ columns: [Int], table alias: String = "t") -> String {
        columns.map { "\(alias).\(self.column($0)) = v.c\($0)" }.joined(separator: " AND ")
    }

    // MARK: - Rows out

    /// The select-list expression of the JSON object of a row of table alias `alias` (the statement's
    /// own table when `nil`, as in a RETURNING clause), every column by name: on SQLite, booleans
    /// as `true`/`false` and JSON text as JSON.
    func rowObject(_ alias: String?) -> String {
        switch self.engine {
        case .postgres:
            return "row_to_json(\(alias ?? self.table))"
        case .sqlite:
            let members = self.schema.columns.indices.map { index -> String in
                let column = alias.map { "\($0).\(self.column(index))" } ?? self.column(index)
                let value: String
                switch self.schema.columns[index].type {
                case .boolean:
                    // SQLite keeps booleans as 0 and 1; anything else stored there is shown as it is.
                    value = "CASE WHEN typeof(\(column)) = 'integer' THEN json(CASE \(column) WHEN 0 THEN 'false' ELSE 'true' END) ELSE \(column) END"
                case .json:
                    value = "CASE WHEN json_valid(\(column)) THEN json(\(column)) ELSE \(column) END"
                default:
                    value = column
                }
                return "'" + self.schema.columns[index].name.replacingOccurrences(of: "'", with: "''") + "', " + value
            }
            return "json_object(" + members.joined(separator: ", ") + ")"
        }
    }

    /// A select-list item folding, for each row of table alias `alias`, `[tag, version, key…, {row}]`
    /// into one JSON array named `rows` (`[]` when there are no rows), in the order of `order`
    /// (`tag` when `nil`). Read it with ``StoredRow/split(_:keyColumns:)``.
    func storedRows(tag: String, order: String? = nil, alias: String = "t") -> SQLQueryString {
        let version = self.schema.version.map { "\(alias).\(self.column($0))" } ?? "NULL"
        let parts = ([tag, version] + self.schema.key.map { "\(alias).\(self.column($0))" } + [self.rowObject(alias)]).joined(separator: ", ")
        let order = order ?? tag
        switch self.engine {
        case .sqlite: return "json_group_array(json_array(\(unsafeRaw: parts)) ORDER BY \(unsafeRaw: order)) AS rows"
        case .postgres: return "COALESCE(json_agg(json_build_array(\(unsafeRaw: parts)) ORDER BY \(unsafeRaw: order)), '[]')::text AS rows"
        }
    }

    /// The stored rows whose keys are in the batch `json` (columns `c<key>`), tagged with the
    /// batch row's `i`, in that order.
    func stored(keysJSON json: String, sql: any SQLDatabase) async throws -> [StoredRow] {
        try await self.readRows(
            """
            SELECT \(self.storedRows(tag: "v.i")) FROM \(unsafeRaw: self.table) AS t
            JOIN \(self.rows(ofJSON: json, columns: self.schema.key)) ON \(unsafeRaw: self.matching(self.schema.key))
            """,
            sql: sql)
    }

    /// Runs `query`, whose one row carries ``storedRows(tag:order:alias:)`` as `rows`, and splits it.
    func readRows(_ query: SQLQueryString, sql: any SQLDatabase) async throws -> [StoredRow] {
        guard let row = try await sql.raw(query).first() else { return [] }
        return try StoredRow.split(try row.decode(column: "rows", as: String.self), keyColumns: self.schema.key.count)
    }

    /// For each of the `count` keys of the batch `json` (by its `i`), the stored row's version:
    /// `nil` when no row has the key, `.some(nil)` for a table without a version column. The rows
    /// are locked until the transaction ends on PostgreSQL (SQLite's `BEGIN IMMEDIATE` holds the
    /// write lock already).
    func versions(keysJSON json: String, count: Int, sql: any SQLDatabase) async throws -> [Int??] {
        let lock: SQLQueryString = self.engine == .postgres ? " FOR UPDATE OF t" : ""
        let version = self.schema.version.map { "t.\(self.column($0))" } ?? "NULL"
        // Two flat arrays in one scan: no array per row to read back.
        let fold: (String) -> String = { self.engine == .sqlite ? "json_group_array(\($0))" : "COALESCE(json_agg(\($0)), '[]')::text" }
        guard
            let row = try await sql.raw(
                """
                SELECT \(unsafeRaw: fold("found.i")) AS tags, \(unsafeRaw: fold("found.version")) AS versions FROM (
                    SELECT v.i AS i, \(unsafeRaw: version) AS version
                    FROM \(unsafeRaw: self.table) AS t JOIN \(self.rows(ofJSON: json, columns: self.schema.key)) ON \(unsafeRaw: self.matching(self.schema.key))\(lock)
                ) AS found
                """
            ).first(),
            case .array(let tags) = try JSONValue.parse(try row.decode(column: "tags", as: String.self).utf8),
            case .array(let versions) = try JSONValue.parse(try row.decode(column: "versions", as: String.self).utf8),
            tags.count == versions.count
        else { throw ProblemDetails.unexpectedDatabaseRow }
        var found = [Int??](repeating: nil, count: count)
        for (tag, version) in zip(tags, versions) {
            guard let tag = tag.intValue, found.indices.contains(tag) else { throw ProblemDetails.unexpectedDatabaseRow }
            found[tag] = .some(version.intValue)
        }
        return found
    }

    /// Every column of the stored rows whose keys are in the batch `json`, by key: what the
    /// constraints of an update are checked against when the database refused it.
    func current(keysJSON json: String, sql: any SQLDatabase) async throws -> [[JSONValue]: [JSONValue]] {
        let columns = self.schema.columns.indices.map { "found.\(self.column($0))" }
        let rows = try await sql.jsonRows(
            """
            SELECT \(self.engine.jsonRows(of: columns)) FROM (
                SELECT t.* FROM \(unsafeRaw: self.table) AS t JOIN \(self.rows(ofJSON: json, columns: self.schema.key)) ON \(unsafeRaw: self.matching(self.schema.key))
            ) AS found
            """
        )
        var found: [[JSONValue]: [JSONValue]] = [:]
        for row in rows {
            guard row.count == self.schema.columns.count else { throw ProblemDetails.unexpectedDatabaseRow }
            found[self.schema.key.map { row[$0] }] = row
        }
        return found
    }

    /// Runs `statement`, an INSERT ending before its RETURNING clause, and gives the rows it wrote
    /// as ``StoredRow``s tagged 0, in the order the database returns them.
    func returning(_ statement: SQLQueryString, sql: any SQLDatabase) async throws -> [StoredRow] {
        switch self.engine {
        case .postgres:
            return try await self.readRows(
                "WITH changed AS (\(statement) RETURNING t.*) SELECT \(self.storedRows(tag: "0", alias: "changed")) FROM changed", sql: sql)
        case .sqlite:
            // SQLite's RETURNING may not be folded by an aggregate: one row each.
            let version = self.schema.version.map { self.column($0) } ?? "NULL"
            let parts = (["0", version] + self.schema.key.map { self.column($0) } + [self.rowObject(nil)]).joined(separator: ", ")
            return try await sql.raw("\(statement) RETURNING json_array(\(unsafeRaw: parts)) AS row").all().map { row in
                let text = try row.decode(column: "row", as: String.self)
                guard let element = try StoredRow.split("[" + text + "]", keyColumns: self.schema.key.count).first else {
                    throw ProblemDetails.unexpectedDatabaseRow
                }
                return element
            }
        }
    }
}

/// A stored row as the database folded it: its tag (the item index of the batch row it matched),
/// version, key, and the row's JSON object, kept as the database wrote it.
struct StoredRow: Sendable {
    let tag: Int
    let version: Int?
    let key: [JSONValue]
    /// The row's JSON object, every column.
    let object: JSONValue

    /// The elements `[tag, version, key…, {row}]` of the array `text` folded by
    /// ``TableStatements/storedRows(tag:order:alias:)``; only the tag, version and key are parsed.
    static func split(_ text: String, keyColumns: Int) throws -> [StoredRow] {
        var text = text
        return try text.withUTF8 { bytes in
            guard let elements = JSONElements.split(bytes, 0..<bytes.count) else { throw ProblemDetails.unexpectedDatabaseRow }
            var rows: [StoredRow] = []
            rows.reserveCapacity(elements.count)
            for element in elements {
                guard let parts = JSONElements.split(bytes, element), parts.count == keyColumns + 3,
                    case .int(let tag) = try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[parts[0]]))
                else { throw ProblemDetails.unexpectedDatabaseRow }
                let version = try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[parts[1]]))
                let key = try parts[2..<parts.count - 1].map { try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[$0])) }
                let object = String(decoding: UnsafeBufferPointer(rebasing: bytes[parts[parts.count - 1]]), as: UTF8.self)
                rows.append(StoredRow(tag: tag, version: version.intValue, key: key, object: .raw(object)))
            }
            return rows
        }
    }
}

/// Splits the text of a JSON array into its elements without parsing them, so that large values a
/// database folded into JSON can be passed on as they are.
enum JSONElements {
    /// The byte ranges of the elements of the array in `range` of `bytes`, each trimmed of
    /// whitespace; `nil` when it is not an array whose strings, brackets and braces are balanced.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [Range<Int>]? {
        guard let whole = self.trimmed(bytes, range), bytes[whole.lowerBound] == UInt8(ascii: "["),
            bytes[whole.upperBound - 1] == UInt8(ascii: "]"), whole.count >= 2
        else { return nil }
        let end = whole.upperBound - 1
        var elements: [Range<Int>] = []
        var start = whole.lowerBound + 1
        var index = start
        var depth = 0
        var inString = false
        // Each element ends at a ',' outside strings and nested values, the last at the closing bracket.
        while index < end {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    guard depth >= 0 else { return nil }
                case UInt8(ascii: ",") where depth == 0:
                    guard let element = self.trimmed(bytes, start..<index) else { return nil }
                    elements.append(element)
                    start = index + 1
                default: break
                }
            }
            index += 1
        }
        guard !inString, depth == 0, index == end else { return nil }
        if let last = self.trimmed(bytes, start..<end) {
            elements.append(last)
        } else if !elements.isEmpty {
            return nil
        }
        return elements
    }

    /// `range` without JSON whitespace at either end; `nil` when nothing is left.
    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int>? {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return start < end ? start..<end : nil
    }
}
