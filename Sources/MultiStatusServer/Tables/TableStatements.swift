import MultiStatus
import SQLKit

/// The SQL of a served table, for both engines. Every identifier comes from the catalog and is
/// quoted; every value travels in one JSON parameter (see `Database+JSONBatch`), whose objects
/// name columns by position (`c3`) so that no column name is ever written into a JSON path.
struct TableStatements: Sendable {
    let schema: TableSchema
    let engine: Database.Engine

    /// `name` as an SQL identifier.
    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    var table: String { self.schema.qualifiedName }

    func column(_ index: Int) -> String { Self.quote(self.schema.columns[index].name) }

    // MARK: - Batch parameters

    /// The JSON object of one batch row: its item index `i` and values `c<column>`.
    static func row(index: Int, columns: [Int], values: [JSONValue]) -> String {
        var text = "{\"i\":\(index)"
        for (column, value) in zip(columns, values) {
            text += ",\"c\(column)\":"
            value.writeJSON(into: &text)
        }
        return text + "}"
    }

    /// The rows `rows` (from ``row(index:columns:values:)``) as one JSON array.
    static func batch(_ rows: some Sequence<String>) -> String { "[" + rows.joined(separator: ",") + "]" }

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

    /// The select-list expressions of every column of `alias`, as JSON values.
    func jsonColumns(of alias: String?) -> [String] {
        self.schema.columns.indices.map { index in
            let name = alias.map { "\($0).\(self.column(index))" } ?? self.column(index)
            if self.engine == .sqlite, case .json = self.schema.columns[index].type {
                return "CASE WHEN json_valid(\(name)) THEN json(\(name)) ELSE \(name) END"
            }
            return name
        }
    }

    /// A folded row's values (every column, in order) as the row's JSON object.
    func object(_ values: [JSONValue]) throws -> [String: JSONValue] {
        guard values.count == self.schema.columns.count else { throw ProblemDetails.unexpectedDatabaseRow }
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(values.count)
        for (column, value) in zip(self.schema.columns, values) {
            // SQLite keeps booleans as 0 and 1.
            if case .boolean = column.type, case .int(let number) = value {
                object[column.name] = .bool(number != 0)
            } else {
                object[column.name] = value
            }
        }
        return object
    }

    /// Runs `statement`, an INSERT or UPDATE ending before its RETURNING clause, and gives the rows
    /// it wrote, every column: in the order the database returns them, or, when the rows' `keys`
    /// are known, in any order.
    func writing(_ statement: SQLQueryString, keys: [[JSONValue]]?, sql: any SQLDatabase) async throws -> [[JSONValue]] {
        guard self.engine == .sqlite, let keys else { return try await self.returning(statement, sql: sql) }
        // SQLite's RETURNING hands rows over one by one; read back by key they come folded into one.
        try await sql.raw(statement).run()
        let json = TableStatements.batch(keys.enumerated().map { Self.row(index: $0, columns: self.schema.key, values: $1) })
        return try await self.current(keysJSON: json, locking: false, sql: sql)
    }

    /// Runs `statement`, an INSERT, UPDATE or DELETE ending before its RETURNING clause, and gives
    /// the rows it changed, every column, in the order the database returns them.
    func returning(_ statement: SQLQueryString, sql: any SQLDatabase) async throws -> [[JSONValue]] {
        switch self.engine {
        case .postgres:
            return try await sql.jsonRows(
                "WITH changed AS (\(statement) RETURNING t.*) SELECT \(self.engine.jsonRows(of: self.jsonColumns(of: "changed"))) FROM changed")
        case .sqlite:
            // SQLite's RETURNING may not be folded by an aggregate: one row each, as one JSON array.
            let list = self.jsonColumns(of: nil).joined(separator: ", ")
            return try await sql.raw("\(statement) RETURNING json_array(\(unsafeRaw: list)) AS row").all().map { row in
                guard case .array(let values) = try JSONValue.parse(try row.decode(column: "row", as: String.self).utf8) else {
                    throw ProblemDetails.unexpectedDatabaseRow
                }
                return values
            }
        }
    }

    /// The rows whose keys are in the batch `json` (columns `c<key>`), every column; locked until
    /// the transaction ends on PostgreSQL (SQLite's `BEGIN IMMEDIATE` holds the write lock already).
    func current(keysJSON json: String, locking: Bool, sql: any SQLDatabase) async throws -> [[JSONValue]] {
        let lock: SQLQueryString = locking && self.engine == .postgres ? " FOR UPDATE OF t" : ""
        return try await sql.jsonRows(
            """
            SELECT \(self.engine.jsonRows(of: self.jsonColumns(of: "found"))) FROM (
                SELECT t.* FROM \(unsafeRaw: self.table) AS t JOIN \(self.rows(ofJSON: json, columns: self.schema.key)) ON \(unsafeRaw: self.matching(self.schema.key))\(lock)
            ) AS found
            """
        )
    }
}
