import MultiStatus
import SQLKit

/// Whole batches as one JSON parameter, and whole results as one JSON row.
///
/// A statement whose text does not grow with the batch is parsed once by the database and needs one
/// bind instead of thousands; a result folded into one row crosses the driver once instead of once
/// per record. Both engines read and build JSON natively, so the SQL differs only here.
extension Database.Engine {
    /// The SQL type of a column read out of a JSON batch.
    enum JSONColumnType: String, Sendable {
        case bigint, text
    }

    /// A `FROM` item named `alias`: one row per object of the JSON array `json`, with `columns` read
    /// from the object's members (NULL where a member is missing).
    func rows(ofJSON json: String, as alias: String, columns: [(name: String, type: JSONColumnType)]) -> SQLQueryString {
        switch self {
        case .sqlite:
            // jsonb_each hands each object over in SQLite's binary form, so `->>` reads it without parsing text again.
            let selected = columns.map { "value ->> '\($0.name)' AS \($0.name)" }.joined(separator: ", ")
            return "(SELECT \(unsafeRaw: selected) FROM jsonb_each(\(bind: json))) AS \(unsafeRaw: alias)"
        case .postgres:
            let declared = columns.map { "\($0.name) \($0.type.rawValue)" }.joined(separator: ", ")
            return "jsonb_to_recordset(\(bind: json)::jsonb) AS \(unsafeRaw: alias)(\(unsafeRaw: declared))"
        }
    }

    /// A subquery listing the integers of the JSON array `json` in a column `id`, for `IN (…)` or a join.
    func integers(ofJSON json: String) -> SQLQueryString {
        switch self {
        case .sqlite: "SELECT value AS id FROM json_each(\(bind: json))"
        case .postgres: "SELECT jsonb_array_elements_text(\(bind: json)::jsonb)::bigint AS id"
        }
    }

    /// A select-list item folding `columns` of every row into one JSON array of arrays, as text
    /// named `rows` (`[]` when there are no rows). Read it with `SQLDatabase.jsonRows(_:)`.
    func jsonRows(of columns: [String]) -> SQLQueryString {
        let list = columns.joined(separator: ", ")
        switch self {
        case .sqlite: return "json_group_array(json_array(\(unsafeRaw: list))) AS rows"
        case .postgres: return "COALESCE(json_agg(json_build_array(\(unsafeRaw: list))), '[]')::text AS rows"
        }
    }
}

extension SQLDatabase {
    /// Runs a query whose one row carries `Database.Engine.jsonRows(of:)`; the rows it folded, each
    /// as its column values in order.
    /// - Throws: ``ProblemDetails/unexpectedDatabaseRow`` when the database answered anything else.
    func jsonRows(_ query: SQLQueryString) async throws -> [[JSONValue]] {
        guard let row = try await self.raw(query).first() else { return [] }
        guard case .array(let rows) = try JSONValue.parse(try row.decode(column: "rows", as: String.self).utf8) else {
            throw ProblemDetails.unexpectedDatabaseRow
        }
        return try rows.map { row throws(ProblemDetails) in
            guard case .array(let values) = row else { throw ProblemDetails.unexpectedDatabaseRow }
            return values
        }
    }
}

extension ProblemDetails {
    /// 500 for a database answer that does not have the shape its query asked for.
    static let unexpectedDatabaseRow = ProblemDetails(status: .internalServerError, detail: "the database answered a row of an unexpected shape")
}

/// Writes a JSON array of flat objects for a batch parameter, member by member (no per-row
/// collections: a batch writes thousands of rows); members whose value is nil are left out.
struct JSONBatchWriter {
    private(set) var text = "["
    private var objectSeparator = ""
    private var separator = ""

    /// Starts the next object.
    mutating func startObject() {
        self.text += self.objectSeparator + "{"
        self.objectSeparator = ","
        self.separator = ""
    }

    /// Adds a member to the object started last, unless `value` is nil.
    mutating func add(_ key: String, _ value: JSONValue?) {
        guard let value else { return }
        self.text += self.separator
        JSONValue.writeString(key, into: &self.text)
        self.text += ":"
        value.writeJSON(into: &self.text)
        self.separator = ","
    }

    /// Ends the object started last.
    mutating func endObject() {
        self.text += "}"
    }

    /// The finished array.
    var json: String { self.text + "]" }
}
