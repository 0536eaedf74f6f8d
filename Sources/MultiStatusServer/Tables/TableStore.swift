import HTTPTypes
import MultiStatus
import SQLKit

/// Batches on one served table, one outcome per item, in request order.
///
/// A batch is decided before it is written, set-based: types, NULLs, unknown columns and
/// duplicates inside the batch from the schema; missing rows, stale versions, UNIQUE values held by
/// other rows and foreign keys to missing rows with one query each over the whole batch. The
/// accepted rows are then written with one statement per set of columns. What only the database
/// can decide (a CHECK, say) makes that statement fail: the rows are then split in halves, each
/// tried in a savepoint, and the halves that fail split again, until each refused row is alone
/// and named (bisection: about 2·log₂(n) statements per refused row).
struct TableStore: Sendable {
    let database: Database
    let schema: TableSchema
    let input: TableInput
    let statements: TableStatements
    /// Whether answers carry each written row (`Prefer: return=representation`, the default), or
    /// only its key and version (`Prefer: return=minimal`), which saves reading the rows back.
    var returnsRows = true

    /// `return=minimal` when the answers leave the rows out, for `Preference-Applied`.
    var preferenceApplied: String? { self.returnsRows ? nil : "return=minimal" }

    init(database: Database, schema: TableSchema) {
        self.database = database
        self.schema = schema
        self.input = TableInput(schema: schema)
        self.statements = TableStatements(schema: schema, engine: database.engine)
    }

    /// The collections of a table's answers, with items under `key`.
    func collection(_ name: String) -> ResourceCollection {
        ResourceCollection(key: name, identifierKey: "key", hrefPrefix: "/tables/\(TableKey.encodePart(self.schema.name))/")
    }

    /// One accepted item while the batch is decided.
    private struct Pending: Sendable {
        let index: Int
        /// Its key; `nil` for an insert whose key the database makes.
        let key: [JSONValue]?
        /// What is written: every given column of an insert, the changes of an update.
        let values: TableInput.Values
        /// The stored row an update changes.
        let current: [JSONValue]?

        /// The batch parameter row of the write: an insert's values, or an update's key and changes.
        let json: String

        init(index: Int, key: [JSONValue]?, values: TableInput.Values, current: [JSONValue]?, key columns: [Int]) {
            self.index = index
            self.key = key
            self.values = values
            self.current = current
            self.json =
                current == nil
                ? TableStatements.row(index: index, columns: values.columns, values: values.values)
                : TableStatements.row(index: index, columns: columns + values.columns, values: (key ?? []) + values.values)
        }

        var isInsert: Bool { self.current == nil }

        /// The batch parameter row giving the final values of `columns`, or `nil` when the write
        /// leaves one to the database.
        func row(of columns: [Int]) -> String? {
            // An insert's row holds every column it gives, and only those can be asked for.
            if self.isInsert { return columns.allSatisfy { self.values[$0] != nil } ? self.json : nil }
            var values: [JSONValue] = []
            for column in columns {
                guard let value = self.final(column) else { return nil }
                values.append(value)
            }
            return TableStatements.row(index: self.index, columns: columns, values: values)
        }

        /// Column `column`'s value after the write; `nil` when an insert leaves it to the database.
        func final(_ column: Int) -> JSONValue? { self.values[column] ?? self.current?[column] }

        /// Whether the write sets any of `columns`.
        func touches(_ columns: [Int]) -> Bool { self.isInsert || columns.contains { self.values[$0] != nil } }
    }

    /// The outcomes while a batch is decided: set once per item.
    private struct Outcomes {
        var items: [ItemResult?]
        init(count: Int) { self.items = Array(repeating: nil, count: count) }
        func decided(_ index: Int) -> Bool { self.items[index] != nil }
        var anyFailed: Bool { self.items.contains { $0.map { !$0.succeeded } ?? false } }
    }

    // MARK: - Operations

    /// `POST /tables/T`: inserts; 201 with the stored row (defaults filled in) for each.
    func insert(_ items: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        var outcomes = Outcomes(count: items.count)
        var pending: [Pending] = []
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                var values = try self.input.insert(item)
                if let version = self.schema.version { values.set(version, .int(1)) }
                let key = self.schema.key.map { values[$0] }
                pending.append(
                    Pending(
                        index: index, key: key.contains(where: { $0 == nil }) ? nil : key.map { $0! }, values: values, current: nil,
                        key: self.schema.key))
            } catch {
                outcomes.items[index] = ItemResult(id: self.input.givenIdentifier(item), problem: error)
            }
        }
        return try await self.write(pending, outcomes, atomic: atomic)
    }

    /// `PATCH /tables/T`: updates by key; 200 with the changed row, 404, or 412 for a stale version.
    func update(_ items: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        var outcomes = Outcomes(count: items.count)
        let items = self.decode(items, &outcomes) { item throws(ProblemDetails) in try self.input.update(item) }
        let accepted = self.firstOccurrences(items.map { ($0.index, $0.key) }, &outcomes)
        return try await self.withCurrentRows(items.filter { accepted.contains($0.index) }.map(\.key), outcomes) { current, outcomes in
            var pending: [Pending] = []
            for item in items where accepted.contains(item.index) {
                guard let row = current[TableKey.identity(item.key)] else {
                    outcomes.items[item.index] = ItemResult(id: self.input.identifier(item.key), problem: self.notFound(item.key))
                    continue
                }
                if let problem = self.staleVersion(item.expectedVersion, row: row) {
                    outcomes.items[item.index] = ItemResult(id: self.input.identifier(item.key), problem: problem)
                    continue
                }
                pending.append(Pending(index: item.index, key: item.key, values: item.values, current: row, key: self.schema.key))
            }
            return pending
        } write: { pending, outcomes, sql in
            try await self.write(pending, outcomes, atomic: atomic, sql: sql)
        }
    }

    /// `PUT /tables/T`: each row inserted (201) when its key is new, changed (200) when it exists.
    func upsert(_ items: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        var outcomes = Outcomes(count: items.count)
        let items = self.decode(items, &outcomes) { item throws(ProblemDetails) in try self.input.upsert(item) }
        let accepted = self.firstOccurrences(items.map { ($0.index, $0.key) }, &outcomes)
        return try await self.withCurrentRows(items.filter { accepted.contains($0.index) }.map(\.key), outcomes) { current, outcomes in
            var pending: [Pending] = []
            for item in items where accepted.contains(item.index) {
                let id = self.input.identifier(item.key)
                guard let row = current[TableKey.identity(item.key)] else {
                    if let expected = item.expectedVersion {
                        outcomes.items[item.index] = ItemResult(
                            id: id,
                            problem: ProblemDetails(
                                status: .preconditionFailed, detail: "version \(expected) was expected, but the row does not exist"))
                        continue
                    }
                    do throws(ProblemDetails) {
                        try self.input.requireMissing(item.values)
                    } catch {
                        outcomes.items[item.index] = ItemResult(id: id, problem: error)
                        continue
                    }
                    var values = item.values
                    if let version = self.schema.version { values.set(version, .int(1)) }
                    pending.append(Pending(index: item.index, key: item.key, values: values, current: nil, key: self.schema.key))
                    continue
                }
                if let problem = self.staleVersion(item.expectedVersion, row: row) {
                    outcomes.items[item.index] = ItemResult(id: id, problem: problem)
                    continue
                }
                var changes = TableInput.Values()
                for (column, value) in zip(item.values.columns, item.values.values) where !self.schema.key.contains(column) {
                    changes.set(column, value)
                }
                if changes.columns.isEmpty {
                    outcomes.items[item.index] = try self.success(.ok, key: item.key, row: row, message: "Unchanged")
                    continue
                }
                pending.append(Pending(index: item.index, key: item.key, values: changes, current: row, key: self.schema.key))
            }
            return pending
        } write: { pending, outcomes, sql in
            try await self.write(pending, outcomes, atomic: atomic, sql: sql)
        }
    }

    /// `DELETE /tables/T`: 204 for each deleted key, 404 for each one without a row.
    func delete(_ items: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        var outcomes = Outcomes(count: items.count)
        var keys: [(index: Int, key: [JSONValue])] = []
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                keys.append((index, try self.input.key(item)))
            } catch {
                outcomes.items[index] = ItemResult(id: item, problem: error)
            }
        }
        let statements = self.statements
        let given = keys
        return try await self.withCurrentRows(given.map(\.key), outcomes) { current, outcomes in
            var pending: [Pending] = []
            var deleted: Set<[JSONValue]> = []
            for item in given {
                let identity = TableKey.identity(item.key)
                // A key given twice is deleted once; its second occurrence finds no row.
                guard current[identity] != nil, deleted.insert(identity).inserted else {
                    outcomes.items[item.index] = ItemResult(id: self.input.identifier(item.key), problem: self.notFound(item.key))
                    continue
                }
                pending.append(
                    Pending(index: item.index, key: item.key, values: TableInput.Values(), current: current[identity], key: self.schema.key))
            }
            return pending
        } write: { pending, outcomes, sql in
            var outcomes = outcomes
            if atomic && outcomes.anyFailed { throw self.atomicFailure(outcomes, notApplied: pending) }
            let key = self.schema.key
            let (_, failures) = try await self.bisect(pending, deleting: true, sql: sql) { part, sql in
                let rows = TableStatements.batch(part.map { TableStatements.row(index: $0.index, columns: key, values: $0.key!) })
                switch statements.engine {
                case .postgres:
                    try await sql.raw(
                        "DELETE FROM \(unsafeRaw: statements.table) AS t USING \(statements.rows(ofJSON: rows, columns: key)) WHERE \(unsafeRaw: statements.matching(key))"
                    ).run()
                case .sqlite:
                    let columns = key.map { "t.\(statements.column($0))" }.joined(separator: ", ")
                    let values = key.map { "v.c\($0)" }.joined(separator: ", ")
                    try await sql.raw(
                        "DELETE FROM \(unsafeRaw: statements.table) AS t WHERE (\(unsafeRaw: columns)) IN (SELECT \(unsafeRaw: values) FROM \(statements.rows(ofJSON: rows, columns: key)))"
                    ).run()
                }
                return []
            }
            for item in pending where failures[item.index] == nil {
                outcomes.items[item.index] = ItemResult(id: self.input.identifier(item.key!), status: .noContent, message: "Deleted")
            }
            for (index, problem) in failures {
                outcomes.items[index] = ItemResult(id: self.input.identifier(pending.first { $0.index == index }!.key!), problem: problem)
            }
            if atomic && outcomes.anyFailed { throw AtomicRollback(items: self.finished(outcomes)) }
            return self.finished(outcomes)
        }
    }

    /// `GET /tables/T?keys=…`: 200 with the row, or 404, per key.
    func read(_ keys: [Substring]) async throws -> [ItemResult] {
        let parsed = keys.map { text -> Result<[JSONValue], ProblemDetails> in
            guard let parts = TableKey.parts(text) else {
                return .failure(ProblemDetails(status: .badRequest, detail: "key \(text.prefix(100)) is not percent-encoded correctly"))
            }
            do throws(ProblemDetails) { return .success(try self.input.key(parts: parts)) } catch { return .failure(error) }
        }
        let found = try await self.rows(keys: parsed.compactMap { try? $0.get() })
        return try zip(keys, parsed).map { text, outcome in
            switch outcome {
            case .failure(let problem): return ItemResult(id: .string(String(text)), problem: problem)
            case .success(let key):
                guard let row = found[TableKey.identity(key)] else { return ItemResult(id: self.input.identifier(key), problem: self.notFound(key)) }
                return try self.success(.ok, key: key, row: row, message: nil)
            }
        }
    }

    /// The row under `key`, every column, or `nil`.
    func row(_ key: [JSONValue]) async throws -> [String: JSONValue]? {
        try await self.rows(keys: [key])[TableKey.identity(key)].map(self.statements.object)
    }

    /// Up to `limit` rows in key order, after the key `after` when given, and the key of the last.
    func page(limit: Int, after: [JSONValue]?) async throws -> (rows: [[String: JSONValue]], last: [JSONValue]?) {
        let statements = self.statements
        let key = self.schema.key
        let order = key.map { "t.\(statements.column($0))" }.joined(separator: ", ")
        let rows = try await self.database.withReader { sql in
            var from: SQLQueryString = "\(unsafeRaw: statements.table) AS t"
            if let after {
                let json = TableStatements.batch([TableStatements.row(index: 0, columns: key, values: after)])
                let values = key.map { "v.c\($0)" }.joined(separator: ", ")
                from = "\(from) CROSS JOIN \(statements.rows(ofJSON: json, columns: key)) WHERE (\(unsafeRaw: order)) > (\(unsafeRaw: values))"
            }
            return try await sql.jsonRows(
                """
                SELECT \(statements.engine.jsonRows(of: statements.jsonColumns(of: "page"))) FROM (
                    SELECT t.* FROM \(from) ORDER BY \(unsafeRaw: order) LIMIT \(bind: limit)
                ) AS page
                """
            )
        }
        let last = rows.count == limit ? rows.last.map { row in key.map { row[$0] } } : nil
        return (try rows.map(statements.object), last)
    }

    // MARK: - Deciding

    /// Each item read by `read`, with its index; an item it refuses is decided with its problem.
    private func decode(
        _ items: [JSONValue], _ outcomes: inout Outcomes, _ read: (JSONValue) throws(ProblemDetails) -> TableInput.Keyed
    ) -> [(index: Int, key: [JSONValue], values: TableInput.Values, expectedVersion: Int?)] {
        var decoded: [(index: Int, key: [JSONValue], values: TableInput.Values, expectedVersion: Int?)] = []
        decoded.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do throws(ProblemDetails) {
                let keyed = try read(item)
                decoded.append((index, keyed.key, keyed.values, keyed.expectedVersion))
            } catch {
                outcomes.items[index] = ItemResult(id: self.input.givenIdentifier(item), problem: error)
            }
        }
        return decoded
    }

    /// The indices of the items whose key appears for the first time; later ones get 409.
    private func firstOccurrences(_ keys: [(index: Int, key: [JSONValue])], _ outcomes: inout Outcomes) -> Set<Int> {
        var seen: Set<[JSONValue]> = []
        var first: Set<Int> = []
        for (index, key) in keys {
            if seen.insert(TableKey.identity(key)).inserted {
                first.insert(index)
            } else {
                outcomes.items[index] = ItemResult(
                    id: self.input.identifier(key),
                    problem: ProblemDetails(
                        status: .conflict,
                        detail: "key \(TableKey.text(key)) appears more than once in this batch; only its first occurrence is applied"))
            }
        }
        return first
    }

    /// In one transaction: the stored rows of `keys` (locked), the writes `decide` makes of them,
    /// and `write`.
    private func withCurrentRows(
        _ keys: [[JSONValue]],
        _ outcomes: Outcomes,
        decide: @escaping @Sendable ([[JSONValue]: [JSONValue]], inout Outcomes) throws -> [Pending],
        write: @escaping @Sendable ([Pending], Outcomes, any SQLDatabase) async throws -> [ItemResult]
    ) async throws -> [ItemResult] {
        let statements = self.statements
        let key = self.schema.key
        let start = outcomes
        return try await self.database.batchTransaction { sql in
            let json = TableStatements.batch(keys.enumerated().map { TableStatements.row(index: $0, columns: key, values: $1) })
            var current: [[JSONValue]: [JSONValue]] = [:]
            for row in try await statements.current(keysJSON: json, locking: true, sql: sql) {
                current[TableKey.identity(key.map { row[$0] })] = row
            }
            var outcomes = start
            let pending = try decide(current, &outcomes)
            return try await write(pending, outcomes, sql)
        }
    }

    /// The stored rows of `keys`, by key identity, read without waiting for writers.
    private func rows(keys: [[JSONValue]]) async throws -> [[JSONValue]: [JSONValue]] {
        guard !keys.isEmpty else { return [:] }
        let statements = self.statements
        let key = self.schema.key
        return try await self.database.withReader { sql in
            let json = TableStatements.batch(keys.enumerated().map { TableStatements.row(index: $0, columns: key, values: $1) })
            var found: [[JSONValue]: [JSONValue]] = [:]
            for row in try await statements.current(keysJSON: json, locking: false, sql: sql) {
                found[TableKey.identity(key.map { row[$0] })] = row
            }
            return found
        }
    }

    private func notFound(_ key: [JSONValue]) -> ProblemDetails {
        ProblemDetails(status: .notFound, detail: "table \(self.schema.name) has no row with key \(TableKey.text(key))")
    }

    private func staleVersion(_ expected: Int?, row: [JSONValue]) -> ProblemDetails? {
        guard let expected, let version = self.schema.version, let current = row[version].intValue, current != expected else { return nil }
        return ProblemDetails(
            status: .preconditionFailed, detail: "version \(expected) is not current; the row is at version \(current)",
            extensions: ["currentVersion": .int(current)])
    }

    private func success(_ status: HTTPResponse.Status, key: [JSONValue], row: [JSONValue], message: String?) throws -> ItemResult {
        let version = self.schema.version.flatMap { row[$0].intValue }
        var fields: [String: JSONValue] = self.returnsRows ? ["row": .object(try self.statements.object(row))] : [:]
        if let version { fields["version"] = .int(version) }
        return ItemResult(
            id: self.input.identifier(key), status: status, message: message, location: self.schema.location(key), etag: version.map { "\"\($0)\"" },
            fields: fields)
    }

    /// The rollback of an atomic batch: the items that would have been applied are reported as
    /// such, and become 424 in the atomic report.
    private func atomicFailure(_ outcomes: Outcomes, notApplied pending: [Pending]) -> AtomicRollback {
        var outcomes = outcomes
        for item in pending where !outcomes.decided(item.index) {
            outcomes.items[item.index] = ItemResult(id: item.key.map(self.input.identifier) ?? .null, status: item.isInsert ? .created : .ok)
        }
        return AtomicRollback(items: self.finished(outcomes))
    }

    private func finished(_ outcomes: Outcomes) -> [ItemResult] {
        outcomes.items.map { $0 ?? ItemResult(id: .null, problem: ProblemDetails(status: .internalServerError, detail: "the item was not decided")) }
    }

    // MARK: - Writing

    /// Decides what the schema and one query per constraint can, then writes inserts and updates
    /// with one statement per set of columns, bisecting what the database still refuses.
    private func write(_ candidates: [Pending], _ start: Outcomes, atomic: Bool) async throws -> [ItemResult] {
        try await self.database.batchTransaction { sql in try await self.write(candidates, start, atomic: atomic, sql: sql) }
    }

    private func write(_ candidates: [Pending], _ start: Outcomes, atomic: Bool, sql: any SQLDatabase) async throws -> [ItemResult] {
        var outcomes = start
        var pending = self.checkBatchUniques(candidates, &outcomes)
        pending = try await self.checkStoredUniques(pending, &outcomes, sql: sql)
        pending = try await self.checkForeignKeys(pending, &outcomes, sql: sql)
        pending = try await self.checkChecks(pending, &outcomes, sql: sql)
        if atomic && outcomes.anyFailed { throw self.atomicFailure(outcomes, notApplied: pending) }

        var groups: [[Int]: [Pending]] = [:]
        for item in pending { groups[(item.isInsert ? [-1] : []) + item.values.columns, default: []].append(item) }
        var written: [Int: [JSONValue]] = [:]
        var failures: [Int: ProblemDetails] = [:]
        for (_, group) in groups.sorted(by: { $0.value[0].index < $1.value[0].index }) {
            let (rows, refused) = try await self.bisect(group, deleting: false, sql: sql) { part, sql in
                try await part[0].isInsert ? self.insertRows(part, sql: sql) : self.updateRows(part, sql: sql)
            }
            for (index, row) in rows { written[index] = row }
            failures.merge(refused) { first, _ in first }
        }
        for item in pending {
            if let problem = failures[item.index] {
                outcomes.items[item.index] = ItemResult(id: item.key.map(self.input.identifier) ?? .null, problem: problem)
            } else if let row = written[item.index] {
                let key = self.schema.key.map { row[$0] }
                outcomes.items[item.index] = try self.success(
                    item.isInsert ? .created : .ok, key: key, row: row, message: item.isInsert ? "Created" : "Updated")
            }
        }
        if atomic && outcomes.anyFailed { throw AtomicRollback(items: self.finished(outcomes)) }
        return self.finished(outcomes)
    }

    /// 409 for a later item giving a UNIQUE value (or key) an earlier item of the batch gives.
    private func checkBatchUniques(_ pending: [Pending], _ outcomes: inout Outcomes) -> [Pending] {
        var refused: Set<Int> = []
        for unique in self.schema.uniques {
            var seen: Set<[JSONValue]> = []
            for item in pending where !refused.contains(item.index) && item.touches(unique.columns) {
                let tuple = unique.columns.map { item.final($0) }
                guard !tuple.contains(where: { $0 == nil || $0 == .null }) else { continue }
                if !seen.insert(TableKey.identity(tuple.map { $0! })).inserted {
                    refused.insert(item.index)
                    outcomes.items[item.index] = ItemResult(
                        id: item.key.map(self.input.identifier) ?? .null,
                        problem: TableViolation.unique(unique, named: unique.name, schema: self.schema, detail: "", byBatch: true))
                }
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// 409 for an item giving a UNIQUE value (or key) that a stored row holds: one query per constraint.
    private func checkStoredUniques(_ pending: [Pending], _ outcomes: inout Outcomes, sql: any SQLDatabase) async throws -> [Pending] {
        let statements = self.statements
        let key = self.schema.key
        // Rows this batch changes may give their values up; the database decides those.
        let changing = Set(pending.compactMap { $0.isInsert ? nil : $0.key.map(TableKey.identity) })
        var refused: Set<Int> = []
        for unique in self.schema.uniques {
            var rows: [String] = []
            var owners: [Int: Pending] = [:]
            for item in pending where !refused.contains(item.index) && item.touches(unique.columns) {
                guard unique.columns.allSatisfy({ item.final($0).map { $0 != .null } ?? false }), let row = item.row(of: unique.columns) else {
                    continue
                }
                rows.append(row)
                owners[item.index] = item
            }
            guard !rows.isEmpty else { continue }
            let found = try await sql.jsonRows(
                """
                SELECT \(statements.engine.jsonRows(of: ["v.i"] + key.map { "t.\(statements.column($0))" })) FROM \(statements.rows(ofJSON: TableStatements.batch(rows), columns: unique.columns))
                JOIN \(unsafeRaw: statements.table) AS t ON \(unsafeRaw: statements.matching(unique.columns))
                """
            )
            for row in found {
                guard let index = row.first?.intValue, let item = owners[index] else { throw ProblemDetails.unexpectedDatabaseRow }
                let holder = TableKey.identity(Array(row.dropFirst()))
                if let own = item.key, !item.isInsert, TableKey.identity(own) == holder { continue }
                if changing.contains(holder) { continue }
                refused.insert(index)
                outcomes.items[index] = ItemResult(
                    id: item.key.map(self.input.identifier) ?? .null,
                    problem: TableViolation.unique(unique, named: unique.name, schema: self.schema, detail: ""))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// 409 for an item whose foreign key refers to no row: one query per foreign key.
    private func checkForeignKeys(_ pending: [Pending], _ outcomes: inout Outcomes, sql: any SQLDatabase) async throws -> [Pending] {
        let statements = self.statements
        var refused: Set<Int> = []
        // A table referring to itself may refer to rows of this very batch: the database decides those.
        for foreignKey in self.schema.foreignKeys where !foreignKey.refersToItself {
            var rows: [String] = []
            var owners: [Int: Pending] = [:]
            for item in pending where !refused.contains(item.index) && item.touches(foreignKey.columns) {
                guard foreignKey.columns.allSatisfy({ item.final($0).map { $0 != .null } ?? false }), let row = item.row(of: foreignKey.columns)
                else { continue }
                rows.append(row)
                owners[item.index] = item
            }
            guard !rows.isEmpty else { continue }
            let matching = zip(foreignKey.referencedColumns, foreignKey.columns).map { "p.\(TableStatements.quote($0)) = v.c\($1)" }.joined(
                separator: " AND ")
            let orphans = try await sql.jsonRows(
                """
                SELECT \(statements.engine.jsonRows(of: ["v.i"])) FROM \(statements.rows(ofJSON: TableStatements.batch(rows), columns: foreignKey.columns))
                WHERE NOT EXISTS (SELECT 1 FROM \(unsafeRaw: foreignKey.referencedSQL) AS p WHERE \(unsafeRaw: matching))
                """
            )
            for row in orphans {
                guard let index = row.first?.intValue, let item = owners[index] else { throw ProblemDetails.unexpectedDatabaseRow }
                refused.insert(index)
                let values = foreignKey.columns.map { item.final($0)! }
                outcomes.items[index] = ItemResult(
                    id: item.key.map(self.input.identifier) ?? .null,
                    problem: TableViolation.foreignKey(
                        foreignKey.name, deleting: false, detail: "\(foreignKey.referencedTable) has no row (\(TableKey.text(values)))"))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// 422 for an item whose row would break a CHECK constraint the catalog gives the expression
    /// of: the expression evaluated over the whole batch in one query per constraint. A row that
    /// leaves a column of it to a default is left to the database.
    private func checkChecks(_ pending: [Pending], _ outcomes: inout Outcomes, sql: any SQLDatabase) async throws -> [Pending] {
        let statements = self.statements
        var refused: Set<Int> = []
        for check in self.schema.checks {
            var rows: [String] = []
            var owners: [Int: Pending] = [:]
            for item in pending where !refused.contains(item.index) && item.touches(check.columns) {
                guard let row = item.row(of: check.columns) else { continue }
                rows.append(row)
                owners[item.index] = item
            }
            guard !rows.isEmpty else { continue }
            // The columns under their own names, so that the expression reads them as it does in the table.
            let named = (["v.i"] + check.columns.map { "v.c\($0) AS \(statements.column($0))" }).joined(separator: ", ")
            let broken = try await sql.jsonRows(
                """
                SELECT \(statements.engine.jsonRows(of: ["t.i"])) FROM (
                    SELECT \(unsafeRaw: named) FROM \(statements.rows(ofJSON: TableStatements.batch(rows), columns: check.columns))
                ) AS t WHERE NOT \(unsafeRaw: check.expression)
                """
            )
            for row in broken {
                guard let index = row.first?.intValue, let item = owners[index] else { throw ProblemDetails.unexpectedDatabaseRow }
                refused.insert(index)
                outcomes.items[index] = ItemResult(
                    id: item.key.map(self.input.identifier) ?? .null,
                    problem: ProblemDetails(
                        status: .unprocessableContent, detail: "the row breaks CHECK constraint \(check.name)",
                        extensions: ["constraint": .string(check.name)]))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// One INSERT for `part` (all giving the same columns); the stored rows by item index.
    private func insertRows(_ part: [Pending], sql: any SQLDatabase) async throws -> [(Int, [JSONValue])] {
        let statements = self.statements
        let columns = part[0].values.columns
        let json = TableStatements.batch(part.map(\.json))
        let names = columns.map(statements.column).joined(separator: ", ")
        let values = columns.map { "v.c\($0)" }.joined(separator: ", ")
        if !self.returnsRows, part[0].key != nil {
            try await sql.raw(
                "INSERT INTO \(unsafeRaw: statements.table) (\(unsafeRaw: names)) SELECT \(unsafeRaw: values) FROM \(statements.rows(ofJSON: json, columns: columns)) ORDER BY v.i"
            ).run()
            return part.map { ($0.index, self.written($0)) }
        }
        var rows = try await statements.writing(
            "INSERT INTO \(unsafeRaw: statements.table) AS t (\(unsafeRaw: names)) SELECT \(unsafeRaw: values) FROM \(statements.rows(ofJSON: json, columns: columns)) ORDER BY v.i",
            keys: part[0].key == nil ? nil : part.map { $0.key! }, sql: sql)
        guard rows.count == part.count else { throw ProblemDetails.unexpectedDatabaseRow }
        if part[0].key != nil {
            var byKey: [[JSONValue]: [JSONValue]] = [:]
            for row in rows { byKey[TableKey.identity(self.schema.key.map { row[$0] })] = row }
            return try part.map { item in
                guard let row = byKey[TableKey.identity(item.key!)] else { throw ProblemDetails.unexpectedDatabaseRow }
                return (item.index, row)
            }
        }
        // Keys the database made: a sequence or rowid counts up in the order rows were inserted,
        // which is the items' order.
        if case .integer = self.schema.columns[self.schema.key[0]].type {
            let column = self.schema.key[0]
            rows.sort { ($0[column].intValue ?? 0) < ($1[column].intValue ?? 0) }
        }
        return zip(part, rows).map { ($0.index, $1) }
    }

    /// What an answer without rows needs of a row written as `item` decided: its key and version.
    private func written(_ item: Pending) -> [JSONValue] {
        var row = item.current ?? Array(repeating: .null, count: self.schema.columns.count)
        for (column, value) in zip(self.schema.key, item.key ?? []) { row[column] = value }
        if let version = self.schema.version { row[version] = .int((item.current?[version].intValue ?? 0) + 1) }
        return row
    }

    /// One UPDATE for `part` (all changing the same columns); the changed rows by item index.
    private func updateRows(_ part: [Pending], sql: any SQLDatabase) async throws -> [(Int, [JSONValue])] {
        let statements = self.statements
        let key = self.schema.key
        let changed = part[0].values.columns
        let columns = key + changed
        let json = TableStatements.batch(part.map(\.json))
        var assignments = changed.map { "\(statements.column($0)) = v.c\($0)" }
        if let version = self.schema.version { assignments.append("\(statements.column(version)) = t.\(statements.column(version)) + 1") }
        if !self.returnsRows {
            try await sql.raw(
                """
                UPDATE \(unsafeRaw: statements.table) AS t SET \(unsafeRaw: assignments.joined(separator: ", "))
                FROM \(statements.rows(ofJSON: json, columns: columns)) WHERE \(unsafeRaw: statements.matching(key))
                """
            ).run()
            return part.map { ($0.index, self.written($0)) }
        }
        let rows = try await statements.writing(
            """
            UPDATE \(unsafeRaw: statements.table) AS t SET \(unsafeRaw: assignments.joined(separator: ", "))
            FROM \(statements.rows(ofJSON: json, columns: columns)) WHERE \(unsafeRaw: statements.matching(key))
            """,
            keys: part.map { $0.key! }, sql: sql)
        var byKey: [[JSONValue]: [JSONValue]] = [:]
        for row in rows { byKey[TableKey.identity(key.map { row[$0] })] = row }
        return try part.map { item in
            guard let row = byKey[TableKey.identity(item.key!)] else { throw ProblemDetails.unexpectedDatabaseRow }
            return (item.index, row)
        }
    }

    /// Runs `statement` for `items` in a savepoint; when the database refuses it for a reason
    /// about a row, splits the items in halves and runs each again, until each refused item is
    /// alone. The problems of the refused items, by item index.
    private func bisect(
        _ items: [Pending],
        deleting: Bool,
        sql: any SQLDatabase,
        _ statement: @escaping @Sendable ([Pending], any SQLDatabase) async throws -> [(Int, [JSONValue])]
    ) async throws -> (rows: [(Int, [JSONValue])], failures: [Int: ProblemDetails]) {
        guard !items.isEmpty else { return ([], [:]) }
        try await sql.raw("SAVEPOINT batch_part").run()
        do {
            let rows = try await statement(items, sql)
            try await sql.raw("RELEASE SAVEPOINT batch_part").run()
            return (rows, [:])
        } catch {
            try await sql.raw("ROLLBACK TO SAVEPOINT batch_part").run()
            try await sql.raw("RELEASE SAVEPOINT batch_part").run()
            guard let problem = TableViolation.problem(error, schema: self.schema, deleting: deleting) else { throw error }
            if items.count == 1 { return ([], [items[0].index: problem]) }
            let middle = items.count / 2
            let first = try await self.bisect(Array(items[..<middle]), deleting: deleting, sql: sql, statement)
            let second = try await self.bisect(Array(items[middle...]), deleting: deleting, sql: sql, statement)
            return (first.rows + second.rows, first.failures.merging(second.failures) { first, _ in first })
        }
    }
}
