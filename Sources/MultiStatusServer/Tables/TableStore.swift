import HTTPTypes
import MultiStatus
import SQLKit

/// Batches on one served table, one outcome per item, in request order.
///
/// A batch is decided before it is written, as far as the schema and the batch itself tell: types,
/// NULLs, unknown columns, duplicates inside the batch, and, with one query over the whole batch,
/// missing rows and stale versions. The accepted rows are then written optimistically, one
/// statement per set of columns. When the database refuses such a statement, it is rolled back
/// and the rows it refused are found set-based: UNIQUE values held by other rows, foreign keys to
/// missing rows and (on PostgreSQL) broken CHECKs with one query each, then group testing
/// over savepoints for what only the database can decide (see `TableStore+Writing`).
struct TableStore: Sendable {
    let database: Database
    let schema: TableSchema
    /// How the table's items are read and answered.
    let items: any TableItems
    let statements: TableStatements
    /// Whether answers carry each written row (`Prefer: return=representation`), or only its key
    /// and version (`Prefer: return=minimal`, the default), which saves reading the rows back: a
    /// batch's answer, like Elasticsearch's `_bulk` or PostgREST's writes, says what became of each
    /// item, and the rows are there to be read when wanted.
    var returnsRows = false
    /// The `return` preference the request gave, for `Preference-Applied`.
    var preferenceApplied: String?

    /// The shape of the answers, for the idempotency fingerprint.
    var shape: String { self.returnsRows ? "return=representation" : "return=minimal" }

    init(database: Database, items: any TableItems) {
        self.database = database
        self.schema = items.schema
        self.items = items
        self.statements = TableStatements(schema: items.schema, engine: database.engine)
    }

    /// A table read from its schema alone.
    init(database: Database, schema: TableSchema) {
        self.init(database: database, items: TableInput(schema: schema))
    }

    /// The collections of a table's answers, with items under `key`.
    func collection(_ name: String) -> ResourceCollection {
        ResourceCollection(key: name, identifierKey: "key", hrefPrefix: "/tables/\(TableKey.encodePart(self.schema.name))/")
    }

    /// One accepted item while the batch is decided and written.
    struct Pending: Sendable {
        let index: Int
        /// Its key; `nil` for an insert whose key the database makes.
        let key: [JSONValue]?
        /// What is written: every given column of an insert, the changes of an update.
        let values: TableInput.Values
        let isInsert: Bool
        /// The stored version of the row an update changes.
        let version: Int?
        /// Every stored column of the row an update changes: read only when the database refused
        /// the update's statement and its constraints are checked one by one.
        var current: [JSONValue]? = nil

        /// Column `column`'s value after the write; `nil` when it is not known here (left to the
        /// database's default, or an update's stored value not read).
        func final(_ column: Int) -> JSONValue? { self.values[column] ?? self.current?[column] }

        /// The final values of `columns`, when all are known.
        func finals(_ columns: [Int]) -> [JSONValue]? {
            var values: [JSONValue] = []
            values.reserveCapacity(columns.count)
            for column in columns {
                guard let value = self.final(column) else { return nil }
                values.append(value)
            }
            return values
        }

        /// Whether the write sets any of `columns`.
        func touches(_ columns: [Int]) -> Bool { self.isInsert || columns.contains { self.values[$0] != nil } }
    }

    /// The outcomes while a batch is decided: set once per item.
    struct Outcomes: Sendable {
        var items: [ItemResult?]
        init(count: Int) { self.items = Array(repeating: nil, count: count) }
        func decided(_ index: Int) -> Bool { self.items[index] != nil }
        var anyFailed: Bool { self.items.contains { $0.map { !$0.succeeded } ?? false } }
    }

    // MARK: - Operations

    /// `POST /tables/T`: inserts; 201 with each row's location and version (and, when
    /// ``returnsRows``, the stored row, defaults filled in). The outcomes, one per item in request
    /// order, are handed to `render`.
    func insert<Output: Sendable>(_ items: [JSONRecords.Element], atomic: Bool, render: @escaping Render<Output>) async throws -> Output {
        var outcomes = Outcomes(count: items.count)
        var pending: [Pending] = []
        pending.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                var values = try self.items.insert(item)
                if let version = self.schema.version { values.set(version, .int(1)) }
                var key: [JSONValue]? = []
                for column in self.schema.key {
                    guard let value = values[column] else {
                        key = nil
                        break
                    }
                    key?.append(value)
                }
                pending.append(Pending(index: index, key: key, values: values, isInsert: true, version: nil))
            } catch {
                outcomes.items[index] = ItemResult(id: self.items.givenIdentifier(item, inserting: true), problem: error)
            }
        }
        let start = outcomes
        let accepted = pending
        return try await self.database.batchTransaction { sql in
            try await self.write(accepted, start, atomic: atomic, sql: sql, render: render)
        } rolledBack: {
            try render($0)
        }
    }

    /// `PATCH /tables/T`: updates by key; 200 with the new version (and the row when asked), 404,
    /// or 412 for a stale version.
    func update<Output: Sendable>(_ items: [JSONRecords.Element], atomic: Bool, render: @escaping Render<Output>) async throws -> Output {
        try await self.keyed(items, atomic: atomic, render: render, read: { item throws(ProblemDetails) in try self.items.update(item) }) {
            item, version, outcomes in
            guard let version else {
                outcomes.items[item.index] = ItemResult(id: self.id(item.key), problem: self.items.notFound(item.key))
                return nil
            }
            return Pending(index: item.index, key: item.key, values: item.values, isInsert: false, version: version)
        }
    }

    /// `PUT /tables/T`: each row inserted (201) when its key is new, changed (200) when it exists.
    func upsert<Output: Sendable>(_ items: [JSONRecords.Element], atomic: Bool, render: @escaping Render<Output>) async throws -> Output {
        try await self.keyed(items, atomic: atomic, render: render, read: { item throws(ProblemDetails) in try self.items.upsert(item) }) {
            item, version, outcomes in
            guard let version else {
                if let expected = item.expectedVersion {
                    outcomes.items[item.index] = ItemResult(
                        id: self.id(item.key),
                        problem: ProblemDetails(status: .preconditionFailed, detail: "version \(expected) was expected, but the row does not exist"))
                    return nil
                }
                do throws(ProblemDetails) {
                    try self.items.requireMissing(item.values)
                } catch {
                    outcomes.items[item.index] = ItemResult(id: self.id(item.key), problem: error)
                    return nil
                }
                var values = item.values
                if let column = self.schema.version { values.set(column, .int(1)) }
                return Pending(index: item.index, key: item.key, values: values, isInsert: true, version: nil)
            }
            var changes = TableInput.Values()
            for (column, value) in zip(item.values.columns, item.values.values) where !self.schema.key.contains(column) {
                changes.set(column, value)
            }
            // A row given as it is needs no write; it is answered as it is stored.
            return Pending(index: item.index, key: item.key, values: changes, isInsert: false, version: version)
        }
    }

    /// The path of `PATCH` and `PUT`: the items read by `read`, a key's later occurrences refused,
    /// then in one transaction the stored versions of their rows (locked), stale versions refused,
    /// each item decided by `decide` from its row's version (`nil` when there is no row,
    /// `.some(nil)` for a table without a version column), which gives `nil` when it refused the
    /// item, and the rest written.
    private func keyed<Output: Sendable>(
        _ items: [JSONRecords.Element],
        atomic: Bool,
        render: @escaping Render<Output>,
        read: (JSONRecords.Element) throws(ProblemDetails) -> TableInput.Keyed,
        decide: @escaping @Sendable (IndexedKeyed, Int??, inout Outcomes) -> Pending?
    ) async throws -> Output {
        var outcomes = Outcomes(count: items.count)
        var decoded: [IndexedKeyed] = []
        decoded.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                decoded.append(IndexedKeyed(index: index, keyed: try read(item)))
            } catch {
                outcomes.items[index] = ItemResult(id: self.items.givenIdentifier(item, inserting: false), problem: error)
            }
        }
        let accepted = self.firstOccurrences(decoded, &outcomes)
        let start = outcomes
        return try await self.database.batchTransaction { sql in
            let versions = try await self.statements.versions(
                self.statements.keysBatch(accepted.map(\.key)), count: accepted.count, sql: sql)
            var outcomes = start
            var pending: [Pending] = []
            pending.reserveCapacity(accepted.count)
            for (item, version) in zip(accepted, versions) {
                if let stored = version, let problem = self.staleVersion(item.expectedVersion, stored: stored) {
                    outcomes.items[item.index] = ItemResult(id: self.id(item.key), problem: problem)
                    continue
                }
                if let decided = decide(item, version, &outcomes) { pending.append(decided) }
            }
            return try await self.write(pending, outcomes, atomic: atomic, sql: sql, render: render)
        } rolledBack: {
            try render($0)
        }
    }

    /// `DELETE /tables/T`: 204 for each deleted key, 404 for each one without a row.
    func delete<Output: Sendable>(_ items: [JSONValue], atomic: Bool, render: @escaping Render<Output>) async throws -> Output {
        var outcomes = Outcomes(count: items.count)
        var keys: [(index: Int, key: [JSONValue])] = []
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                keys.append((index, try self.items.key(item)))
            } catch {
                outcomes.items[index] = ItemResult(id: item, problem: error)
            }
        }
        let given = keys
        let start = outcomes
        return try await self.database.batchTransaction { sql in
            let versions = try await self.statements.versions(self.statements.keysBatch(given.map(\.key)), count: given.count, sql: sql)
            var outcomes = start
            var pending: [Pending] = []
            var deleted: Set<[JSONValue]> = []
            for (item, version) in zip(given, versions) {
                // A key given twice is deleted once; its second occurrence finds no row.
                guard let version, deleted.insert(item.key).inserted else {
                    outcomes.items[item.index] = ItemResult(id: self.id(item.key), problem: self.items.notFound(item.key))
                    continue
                }
                pending.append(Pending(index: item.index, key: item.key, values: TableInput.Values(), isInsert: false, version: version))
            }
            return try await self.delete(pending, outcomes, atomic: atomic, sql: sql, render: render)
        } rolledBack: {
            try render($0)
        }
    }

    /// `GET /tables/T?keys=…`: 200 with the row, or 404, per key.
    func read(_ keys: [Substring]) async throws -> [ItemResult] {
        let parsed = keys.map { text -> Result<[JSONValue], ProblemDetails> in
            guard let parts = TableKey.parts(text) else {
                return .failure(ProblemDetails(status: .badRequest, detail: "key \(text.prefix(100)) is not percent-encoded correctly"))
            }
            do throws(ProblemDetails) { return .success(try self.items.key(parts: parts)) } catch { return .failure(error) }
        }
        let wanted = parsed.compactMap { try? $0.get() }
        var found: [[JSONValue]: StoredRow] = [:]
        for row in try await self.rows(keys: wanted) { found[wanted[row.tag]] = row }
        return zip(keys, parsed).map { text, outcome in
            switch outcome {
            case .failure(let problem): return ItemResult(id: .string(String(text)), problem: problem)
            case .success(let key):
                guard let row = found[key] else { return ItemResult(id: self.id(key), problem: self.items.notFound(key)) }
                return self.success(.ok, id: self.id(key), key: key, version: row.version, row: row.object, message: nil)
            }
        }
    }

    /// The stored row under `key`, or `nil`.
    func row(_ key: [JSONValue]) async throws -> StoredRow? {
        try await self.rows(keys: [key]).first
    }

    /// Up to `limit` rows in key order, after the key `after` when given.
    func page(limit: Int, after: [JSONValue]?) async throws -> [StoredRow] {
        let statements = self.statements
        let key = self.schema.key
        let order = key.map { "page.\(statements.column($0))" }.joined(separator: ", ")
        let ordered = key.map { "t.\(statements.column($0))" }.joined(separator: ", ")
        let select: @Sendable (SQLQueryString, SQLQueryString) -> SQLQueryString = { from, condition in
            """
            SELECT \(statements.storedRows(tag: "0", order: order, alias: "page")) FROM (
                SELECT t.* FROM \(unsafeRaw: statements.table) AS t\(from)\(condition) ORDER BY \(unsafeRaw: ordered) LIMIT \(unsafeRaw: String(limit))
            ) AS page
            """
        }
        return try await self.database.withReader { sql in
            guard let after else { return try statements.storedRows(try await sql.raw(select("", "")).all()) }
            let values = key.map { "v.c\($0)" }.joined(separator: ", ")
            return try statements.storedRows(
                try await statements.run(statements.keysBatch([after]), sql: sql) { rows in
                    select(" CROSS JOIN \(rows)", " WHERE (\(unsafeRaw: ordered)) > (\(unsafeRaw: values))")
                })
        }
    }

    // MARK: - Deciding

    /// The indices of the items whose key appears for the first time; later ones get 409.
    private func firstOccurrences(_ items: [IndexedKeyed], _ outcomes: inout Outcomes) -> [IndexedKeyed] {
        var seen: Set<[JSONValue]> = []
        var seenOne: Set<JSONValue> = []
        let single = self.schema.key.count == 1
        if single { seenOne.reserveCapacity(items.count) } else { seen.reserveCapacity(items.count) }
        var first: [IndexedKeyed] = []
        first.reserveCapacity(items.count)
        for item in items {
            if single ? seenOne.insert(item.key[0]).inserted : seen.insert(item.key).inserted {
                first.append(item)
            } else {
                outcomes.items[item.index] = ItemResult(id: self.id(item.key), problem: self.items.repeated(item.key))
            }
        }
        return first
    }

    /// The stored rows of `keys`, tagged with their positions in `keys`, read without waiting for writers.
    private func rows(keys: [[JSONValue]]) async throws -> [StoredRow] {
        guard !keys.isEmpty else { return [] }
        let statements = self.statements
        return try await self.database.withReader { sql in
            try await statements.stored(statements.keysBatch(keys), sql: sql)
        }
    }

    /// What `item` is answered under.
    func id(_ item: Pending) -> JSONValue { self.items.identifier(key: item.key, values: item.values, inserting: item.isInsert) }

    /// What the item of the row with `key` is answered under.
    func id(_ key: [JSONValue]) -> JSONValue { self.items.identifier(key: key, values: TableInput.Values(), inserting: false) }

    private func staleVersion(_ expected: Int?, stored: Int?) -> ProblemDetails? {
        guard let expected, let stored, stored != expected else { return nil }
        return ProblemDetails(
            status: .preconditionFailed, detail: "version \(expected) is not current; the row is at version \(stored)",
            extensions: ["currentVersion": .int(stored)])
    }

    /// A written or read row's outcome, answered under `id`: its location, version (as `etag`
    /// too) and the row, when given.
    func success(
        _ status: HTTPResponse.Status, id: JSONValue, key: [JSONValue], version: Int?, row: JSONValue?, message: String?
    ) -> ItemResult {
        ItemResult(
            id: id, status: status, message: message, location: self.items.location(key), etag: version.map { "\"\($0)\"" },
            fields: self.items.fields(version: version, row: row))
    }

    /// The rollback of an atomic batch: the items that would have been applied are reported as
    /// such, and become 424 in the atomic report.
    func atomicFailure(_ outcomes: Outcomes, notApplied pending: [Pending]) -> AtomicRollback {
        var outcomes = outcomes
        for item in pending where !outcomes.decided(item.index) {
            outcomes.items[item.index] = ItemResult(id: self.id(item), status: item.isInsert ? .created : .ok)
        }
        return AtomicRollback(items: self.finished(outcomes))
    }

    func finished(_ outcomes: Outcomes) -> [ItemResult] {
        outcomes.items.map { $0 ?? ItemResult(id: .null, problem: ProblemDetails(status: .internalServerError, detail: "the item was not decided")) }
    }
}

/// A keyed item (`PATCH`, `PUT`) with its position in the request.
struct IndexedKeyed: Sendable {
    let index: Int
    let keyed: TableInput.Keyed
    var key: [JSONValue] { self.keyed.key }
    var values: TableInput.Values { self.keyed.values }
    var expectedVersion: Int? { self.keyed.expectedVersion }
}
