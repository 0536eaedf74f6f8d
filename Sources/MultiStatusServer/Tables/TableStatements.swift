import MultiStatus
import SQLKit
import SQLiteNIO

/// The SQL of a served table, for both engines. Every identifier comes from the catalog and is
/// quoted; every value is bound, a batch's rows together (see ``run(_:sql:_:)``).
struct TableStatements: Sendable {
    let schema: TableSchema
    let engine: Database.Engine

    /// `name` as an SQL identifier.
    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    var table: String { self.schema.qualifiedName }

    func column(_ index: Int) -> String { Self.quote(self.schema.columns[index].name) }

    // MARK: - Batches

    /// Rows of values of some columns of the table, each tagged with its item's index `i`: what a
    /// set-based statement reads as its `FROM` item `v` (columns `i` and `c<column>`).
    struct Batch: Sendable {
        /// The columns each row gives, in order.
        let columns: [Int]
        /// Each row's item index.
        private(set) var tags: [Int] = []
        /// The rows' values, row after row.
        private(set) var values: [JSONValue] = []

        init(columns: [Int], capacity: Int = 0) {
            self.columns = columns
            self.tags.reserveCapacity(capacity)
            self.values.reserveCapacity(capacity * columns.count)
        }

        var isEmpty: Bool { self.tags.isEmpty }

        /// Adds the row of item `index`: one value for each of ``columns``, in that order, given as
        /// `values` and then `more`.
        mutating func append(index: Int, values: [JSONValue], _ more: [JSONValue] = []) {
            self.tags.append(index)
            self.values.append(contentsOf: values)
            self.values.append(contentsOf: more)
        }
    }

    /// The batch of `keys`, each row's index its position.
    func keysBatch(_ keys: [[JSONValue]]) -> Batch {
        var batch = Batch(columns: self.schema.key, capacity: keys.count)
        for (index, key) in keys.enumerated() { batch.append(index: index, values: key) }
        return batch
    }

    /// The most rows a SQLite statement binds: its text grows with them, and SQLite takes at most
    /// 32,766 values a statement.
    private static let sqliteRowsPerStatement = 500

    /// Runs the statement `statement` makes around the `FROM` item of `batch`, and gives every row
    /// it returned. On PostgreSQL the batch is one JSON parameter read by `jsonb_to_recordset`: one
    /// statement, one round trip. On SQLite, which runs in this process, the rows are bound as
    /// `VALUES`, up to ``sqliteRowsPerStatement`` a statement, and the values are never written as
    /// JSON: with SQLite 3.51 alone, 10,000 8-column rows insert in 11 ms that way against 25 ms
    /// read from `jsonb_each` objects, whose every value is looked up by path, and 21 ms from
    /// arrays; in the server a 10,000-row POST took 56–60 ms against 62–65 ms with arrays, each
    /// on a new table, the parsing of the longer statements taking back part of the gain.
    /// `statement` must bind nothing itself.
    func run(_ batch: Batch, sql: any SQLDatabase, _ statement: (SQLQueryString) -> SQLQueryString) async throws -> [any SQLRow] {
        guard !batch.isEmpty else { return [] }
        guard let session = sql as? SQLiteSession else {
            return try await sql.raw(statement(self.jsonRecordset(batch))).all()
        }
        if batch.columns.count == 1 && batch.tags.elementsEqual(batch.tags.indices) {
            // A list of keys tagged by position is one JSON array, whose positions json_each gives
            // as `key`: one short statement, no value looked up by path (with SQLite 3.51 alone, a
            // lookup of 10,000 keys took 3.2 ms so, 3.7 ms bound as VALUES in statements of 500,
            // 11 ms from an array of objects).
            var text = "["
            text.reserveCapacity(batch.values.count * 12)
            for (position, value) in batch.values.enumerated() {
                if position > 0 { text += "," }
                value.writeJSON(into: &text)
            }
            text += "]"
            return try await sql.raw(
                statement("(SELECT key AS i, value AS c\(unsafeRaw: String(batch.columns[0])) FROM json_each(\(bind: text))) AS v")
            ).all()
        }
        let width = batch.columns.count
        let names = (["column1 AS i"] + batch.columns.enumerated().map { "column\($0 + 2) AS c\($1)" }).joined(separator: ", ")
        let placeholders = "(" + Array(repeating: "?", count: width + 1).joined(separator: ",") + ")"
        var rows: [any SQLRow] = []
        var start = 0
        while start < batch.tags.count {
            let end = min(start + Self.sqliteRowsPerStatement, batch.tags.count)
            let values = Array(repeating: placeholders, count: end - start).joined(separator: ",")
            let (text, sqlKitBinds) = sql.serialize(statement("(SELECT \(unsafeRaw: names) FROM (VALUES \(unsafeRaw: values))) AS v"))
            guard sqlKitBinds.isEmpty else { throw ProblemDetails(status: .internalServerError, detail: "a batch statement binds values of its own") }
            var binds: [SQLiteData] = []
            binds.reserveCapacity((end - start) * (width + 1))
            for row in start..<end {
                binds.append(.integer(batch.tags[row]))
                for value in batch.values[(row * width)..<((row + 1) * width)] { binds.append(Self.sqlite(value)) }
            }
            rows += try await session.query(text, binds)
            start = end
        }
        return rows
    }

    /// `value` as SQLite binds it: as `->>` reads it out of JSON.
    private static func sqlite(_ value: JSONValue) -> SQLiteData {
        switch value {
        case .null: .null
        case .bool(let flag): .integer(flag ? 1 : 0)
        case .int(let number): .integer(number)
        case .double(let number): .float(number)
        case .string(let text): .text(text)
        case .array, .object, .raw: .text(value.jsonText)
        }
    }

    /// PostgreSQL's `FROM` item of `batch`: `jsonb_to_recordset` of one JSON parameter, each row
    /// an object `{"i": …, "c<column>": …}` read into a column of the column's own type.
    private func jsonRecordset(_ batch: Batch) -> SQLQueryString {
        var text = "["
        text.reserveCapacity(batch.tags.count * (12 + 16 * batch.columns.count))
        let prefixes = batch.columns.map { ",\"c\($0)\":" }
        let width = batch.columns.count
        for (row, tag) in batch.tags.enumerated() {
            text += row == 0 ? "{\"i\":" : ",{\"i\":"
            text += String(tag)
            for (prefix, value) in zip(prefixes, batch.values[(row * width)..<((row + 1) * width)]) {
                text += prefix
                value.writeJSON(into: &text)
            }
            text += "}"
        }
        text += "]"
        let declared = (["i integer"] + batch.columns.map { "c\($0) \(self.schema.columns[$0].sqlType)" }).joined(separator: ", ")
        return "jsonb_to_recordset(\(bind: text)::jsonb) AS v(\(unsafeRaw: declared))"
    }

    /// `value` as column `column` would store it. PostgreSQL's batch rows have the column's own type
    /// already. SQLite converts a value to a column's affinity when it stores it: a REAL or NUMERIC
    /// column takes `3` as `3.0` and `"12.50"` as `12.5`, which a CHECK then compares, so the value is
    /// cast the same way (the values a request may give those columns are numbers, or for NUMERIC
    /// numeric strings, which the cast and the affinity read alike).
    func stored(_ value: String, as column: Int) -> String {
        guard self.engine == .sqlite else { return value }
        switch self.schema.columns[column].type {
        case .real: return "CAST(\(value) AS REAL)"
        case .numeric: return "CAST(\(value) AS NUMERIC)"
        default: return value
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

    /// The stored rows whose keys are in `keys`, tagged with the batch row's `i`, in that order.
    func stored(_ keys: Batch, sql: any SQLDatabase) async throws -> [StoredRow] {
        try await self.storedRows(
            self.run(keys, sql: sql) { rows in
                """
                SELECT \(self.storedRows(tag: "v.i")) FROM \(unsafeRaw: self.table) AS t JOIN \(rows) ON \(unsafeRaw: self.matching(self.schema.key))
                """
            })
    }

    /// The rows that ``storedRows(tag:order:alias:)`` folded into the `rows` of each of `results`.
    func storedRows(_ results: [any SQLRow]) throws -> [StoredRow] {
        try results.flatMap { try StoredRow.split(try $0.decode(column: "rows", as: String.self), keyColumns: self.schema.key.count) }
    }

    /// The rows that `Database.Engine.jsonRows(of:)` folded into the `rows` of each of `results`.
    func foldedRows(_ results: [any SQLRow]) throws -> [[JSONValue]] {
        try results.flatMap { try $0.foldedRows() }
    }

    /// For each key of `keys` (by its `i`), the stored row's version: `nil` when no row has the
    /// key, `.some(nil)` for a table without a version column. The rows are locked until the
    /// transaction ends on PostgreSQL (SQLite's `BEGIN IMMEDIATE` holds the write lock already).
    func versions(_ keys: Batch, count: Int, sql: any SQLDatabase) async throws -> [Int??] {
        let lock: SQLQueryString = self.engine == .postgres ? " FOR UPDATE OF t" : ""
        let version = self.schema.version.map { "t.\(self.column($0))" } ?? "NULL"
        // Two flat arrays in one scan: no array per row to read back.
        let fold: (String) -> String = { self.engine == .sqlite ? "json_group_array(\($0))" : "COALESCE(json_agg(\($0)), '[]')::text" }
        let results = try await self.run(keys, sql: sql) { rows in
            """
            SELECT \(unsafeRaw: fold("found.i")) AS tags, \(unsafeRaw: fold("found.version")) AS versions FROM (
                SELECT v.i AS i, \(unsafeRaw: version) AS version
                FROM \(unsafeRaw: self.table) AS t JOIN \(rows) ON \(unsafeRaw: self.matching(self.schema.key))\(lock)
            ) AS found
            """
        }
        var found = [Int??](repeating: nil, count: count)
        for result in results {
            guard case .array(let tags) = try JSONValue.parse(try result.decode(column: "tags", as: String.self).utf8),
                case .array(let versions) = try JSONValue.parse(try result.decode(column: "versions", as: String.self).utf8),
                tags.count == versions.count
            else { throw ProblemDetails.unexpectedDatabaseRow }
            for (tag, version) in zip(tags, versions) {
                guard let tag = tag.intValue, found.indices.contains(tag) else { throw ProblemDetails.unexpectedDatabaseRow }
                found[tag] = .some(version.intValue)
            }
        }
        return found
    }

    /// Every column of the stored rows whose keys are in `keys`, by key: what the constraints of an
    /// update are checked against when the database refused it.
    func current(_ keys: Batch, sql: any SQLDatabase) async throws -> [[JSONValue]: [JSONValue]] {
        let columns = self.schema.columns.indices.map { "found.\(self.column($0))" }
        let results = try await self.run(keys, sql: sql) { rows in
            """
            SELECT \(self.engine.jsonRows(of: columns)) FROM (
                SELECT t.* FROM \(unsafeRaw: self.table) AS t JOIN \(rows) ON \(unsafeRaw: self.matching(self.schema.key))
            ) AS found
            """
        }
        var found: [[JSONValue]: [JSONValue]] = [:]
        for row in try self.foldedRows(results) {
            guard row.count == self.schema.columns.count else { throw ProblemDetails.unexpectedDatabaseRow }
            found[self.schema.key.map { row[$0] }] = row
        }
        return found
    }

    /// Runs the INSERT `statement` makes around the `FROM` item of `batch`, ending before its
    /// RETURNING clause, and gives the rows it wrote as ``StoredRow``s tagged 0, in the order the
    /// database returns them.
    func returning(_ batch: Batch, sql: any SQLDatabase, _ statement: @escaping (SQLQueryString) -> SQLQueryString) async throws -> [StoredRow] {
        switch self.engine {
        case .postgres:
            return try self.storedRows(
                try await self.run(batch, sql: sql) { rows in
                    "WITH changed AS (\(statement(rows)) RETURNING t.*) SELECT \(self.storedRows(tag: "0", alias: "changed")) FROM changed"
                })
        case .sqlite:
            // SQLite's RETURNING may not be folded by an aggregate: one row each.
            let version = self.schema.version.map { self.column($0) } ?? "NULL"
            let parts = (["0", version] + self.schema.key.map { self.column($0) } + [self.rowObject(nil)]).joined(separator: ", ")
            return try await self.run(batch, sql: sql) { rows in "\(statement(rows)) RETURNING json_array(\(unsafeRaw: parts)) AS row" }.map { row in
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
