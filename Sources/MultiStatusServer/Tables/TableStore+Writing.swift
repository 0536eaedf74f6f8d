import HTTPTypes
import MultiStatus
import SQLKit

/// A statement over some of a batch's items, giving the rows it wrote when it reads them back
/// itself (inserts whose keys the database makes), by item index.
typealias TableStatement = @Sendable ([TableStore.Pending], any SQLDatabase) async throws -> [Int: StoredRow]

extension TableStore {
    /// Turns a batch's outcomes into its answer, on whichever core is free (see ``write(_:_:atomic:sql:render:)``).
    typealias Render<Output> = @Sendable ([ItemResult]) throws -> Output

    /// Writes the accepted inserts and updates of a batch and answers every item: duplicates inside
    /// the batch refused first, then each set of items giving the same columns written with one
    /// statement (see ``write(group:_:sql:)``), then the written rows read back in one query.
    ///
    /// An answer without rows is known before the write, unless the database refuses a row: it is
    /// rendered on another core meanwhile, and rendered again only when that happens.
    func write<Output: Sendable>(
        _ candidates: [Pending], _ start: Outcomes, atomic: Bool, sql: any SQLDatabase, render: @escaping Render<Output>
    ) async throws -> Output {
        var outcomes = start
        var pending = self.checkBatchUniques(candidates, &outcomes)
        // On PostgreSQL each query is a round trip, and a refused statement costs one of a batch's
        // few: the constraints are checked first (bench/tables: 1 refused row of 10,000 took a POST
        // to 0.46 of its speed checked after the refusal). On SQLite, in this process, checking first
        // costs more than the rare refusal: the batch is written first.
        let explained = self.statements.engine == .postgres
        if explained {
            pending = try await self.explain(pending, &outcomes, sql: sql)
        } else if self.schema.deferredForeignKeys {
            // SQLite checks a deferred foreign key only at COMMIT, where a refusal would fail the
            // whole request: those are decided first.
            pending = try await self.checkForeignKeys(pending, &outcomes, sql: sql)
        }
        if atomic && outcomes.anyFailed { throw self.atomicFailure(outcomes, notApplied: pending) }
        try await self.checkConstraintsImmediately(sql)

        let decided = outcomes
        let written = pending
        // Keys the database makes are known only once written.
        let guessable = !self.returnsRows && !pending.contains { $0.key == nil }
        async let guessed: Output? = guessable ? render(self.answers(written, decided, stored: [:])) : nil
        // Items of a batch mostly give the same columns: an item like the one before joins its group
        // without a lookup.
        var groups: [[Pending]] = []
        var groupOf: [GroupKey: Int] = [:]
        var last: (key: GroupKey, group: Int)?
        for item in pending where !item.values.columns.isEmpty {
            let key = GroupKey(isInsert: item.isInsert, columns: item.values.columns)
            if let last, last.key == key {
                groups[last.group].append(item)
                continue
            }
            let group = groupOf[key] ?? groups.count
            if group == groups.count {
                groupOf[key] = group
                groups.append([])
            }
            groups[group].append(item)
            last = (key, group)
        }
        var stored: [Int: StoredRow] = [:]
        for group in groups {
            for (index, row) in try await self.write(group: group, explained: explained, &outcomes, sql: sql) { stored[index] = row }
        }
        let refused = pending.contains { outcomes.decided($0.index) }
        if !refused, let guessed = try await guessed { return guessed }

        // Every written row as it is now stored, in one query, unless the answer leaves rows out.
        let answered = pending.filter { !outcomes.decided($0.index) && $0.key != nil }
        if self.returnsRows && !answered.isEmpty {
            for row in try await self.statements.stored(self.statements.keysBatch(answered.map { $0.key! }), sql: sql) {
                stored[answered[row.tag].index] = row
            }
        }
        let items = self.answers(pending, outcomes, stored: stored)
        if atomic && refused { throw AtomicRollback(items: items) }
        return try render(items)
    }

    /// Every item's outcome: the decided ones as they are, the written ones from their `stored`
    /// rows (by item index), or without a row read back, from the key and the version the write gave.
    private func answers(_ written: [Pending], _ decided: Outcomes, stored: [Int: StoredRow]) -> [ItemResult] {
        var outcomes = decided
        for item in written where !outcomes.decided(item.index) {
            let status: HTTPResponse.Status = item.isInsert ? .created : .ok
            let message = item.isInsert ? "Created" : item.values.columns.isEmpty ? "Unchanged" : "Updated"
            if let row = stored[item.index] {
                outcomes.items[item.index] = self.success(
                    status, id: self.items.identifier(key: row.key, values: item.values, inserting: item.isInsert), key: row.key,
                    version: row.version,
                    row: self.returnsRows ? row.object : nil, message: message)
            } else if let key = item.key {
                let version =
                    item.isInsert ? self.schema.version.map { _ in 1 } : item.values.columns.isEmpty ? item.version : item.version.map { $0 + 1 }
                outcomes.items[item.index] = self.success(status, id: self.id(item), key: key, version: version, row: nil, message: message)
            }
        }
        return self.finished(outcomes)
    }

    /// Deletes the rows of `pending` with one statement, isolating what the database refuses (a
    /// row still referred to), and answers every item; the answer is rendered while the database
    /// deletes, as for ``write(_:_:atomic:sql:render:)``.
    func delete<Output: Sendable>(
        _ pending: [Pending], _ start: Outcomes, atomic: Bool, sql: any SQLDatabase, render: @escaping Render<Output>
    ) async throws -> Output {
        if atomic && start.anyFailed { throw self.atomicFailure(start, notApplied: pending) }
        try await self.checkConstraintsImmediately(sql)
        let deleted = self.finished(self.deleted(pending, start, failures: [:]))
        async let guessed = render(deleted)
        let statements = self.statements
        let key = self.schema.key
        var savepoints = Savepoints()
        let (_, failures) = try await self.isolate(pending, deleting: true, knownToFail: false, &savepoints, sql: sql) { part, sql in
            _ = try await statements.run(statements.keysBatch(part.map { $0.key! }), sql: sql) { rows in
                switch statements.engine {
                case .postgres:
                    return "DELETE FROM \(unsafeRaw: statements.table) AS t USING \(rows) WHERE \(unsafeRaw: statements.matching(key))"
                case .sqlite:
                    let columns = key.map { "t.\(statements.column($0))" }.joined(separator: ", ")
                    let values = key.map { "v.c\($0)" }.joined(separator: ", ")
                    return
                        "DELETE FROM \(unsafeRaw: statements.table) AS t WHERE (\(unsafeRaw: columns)) IN (SELECT \(unsafeRaw: values) FROM \(rows))"
                }
            }
            return [:]
        }
        try await savepoints.release(sql)
        if failures.isEmpty { return try await guessed }
        let items = self.finished(self.deleted(pending, start, failures: failures))
        if atomic { throw AtomicRollback(items: items) }
        return try render(items)
    }

    /// The outcomes of a delete: 204 for each item of `pending` but those `failures` refused.
    private func deleted(_ pending: [Pending], _ start: Outcomes, failures: [Int: ProblemDetails]) -> Outcomes {
        var outcomes = start
        for item in pending {
            let id = self.id(item)
            outcomes.items[item.index] =
                failures[item.index].map { ItemResult(id: id, problem: $0) } ?? ItemResult(id: id, status: .noContent, message: "Deleted")
        }
        return outcomes
    }

    /// On PostgreSQL, makes deferrable constraints checked by each statement, so that a refusal
    /// falls on the statement that caused it, where it is answered per row, not on COMMIT.
    private func checkConstraintsImmediately(_ sql: any SQLDatabase) async throws {
        guard self.statements.engine == .postgres else { return }
        try await sql.raw("SET CONSTRAINTS ALL IMMEDIATE").run()
    }

    /// Writes one set of items that give the same columns: optimistically with one statement; when
    /// the database refuses it, rolls it back and refuses the rows that break the constraint the
    /// refusal names (one query), then tries again; when a refusal names none the server can
    /// check, or checking it found nothing, refuses what ``explain(_:_:sql:)`` finds (unless the
    /// items were explained already) and isolates the rest. The rows the statements read back
    /// themselves, by item index; refused items are decided in `outcomes`.
    private func write(group: [Pending], explained: Bool, _ outcomes: inout Outcomes, sql: any SQLDatabase) async throws -> [Int: StoredRow] {
        let statement: TableStatement = { part, sql in
            try await part[0].isInsert ? self.insertRows(part, sql: sql) : self.updateRows(part, sql: sql)
        }
        var savepoints = Savepoints()
        var remaining = group
        var tried: Set<String> = []
        while true {
            guard !remaining.isEmpty else { return [:] }
            let refusal: ProblemDetails
            switch try await self.attempt(remaining, deleting: false, &savepoints, sql: sql, statement) {
            case .written(let rows):
                try await savepoints.release(sql)
                return rows
            case .refused(let problem): refusal = problem
            }
            // Most refused batches break one constraint: checking that one costs one query, not one per constraint.
            guard !explained, case .string(let name)? = refusal.extensions["constraint"], tried.insert(name).inserted else { break }
            let before = remaining.count
            remaining = try await self.explain(remaining, &outcomes, only: .named(name), sql: sql)
            if remaining.count == before { break }
        }
        let before = remaining.count
        if !explained { remaining = try await self.explain(remaining, &outcomes, sql: sql) }
        let (rows, failures) = try await self.isolate(
            remaining, deleting: false, knownToFail: remaining.count == before, &savepoints, sql: sql, statement)
        try await savepoints.release(sql)
        for (index, problem) in failures {
            outcomes.items[index] = ItemResult(id: group.first { $0.index == index }.map(self.id) ?? .null, problem: problem)
        }
        return rows
    }

    /// Refuses the items of `pending` that break a constraint (of `only`) one query over them all
    /// can tell: UNIQUE values other rows hold, foreign keys to missing rows, broken CHECKs. An
    /// update that sets some columns of a constraint but not all first gets its stored row, which
    /// the constraint is checked against. The items not refused.
    private func explain(_ pending: [Pending], _ outcomes: inout Outcomes, only: Constraints = .all, sql: any SQLDatabase) async throws -> [Pending] {
        var remaining = pending
        let constraints =
            (self.schema.uniques.map { ($0.name, $0.columns) } + self.schema.foreignKeys.map { ($0.name, $0.columns) }
            + self.schema.checks.map { ($0.name, $0.columns) }).filter { only.includes($0.0) }.map(\.1)
        let updated = pending.compactMap { item in
            !item.isInsert && constraints.contains { item.touches($0) && item.finals($0) == nil } ? item.key : nil
        }
        if !updated.isEmpty {
            let current = try await self.statements.current(self.statements.keysBatch(updated), sql: sql)
            for position in remaining.indices where !remaining[position].isInsert {
                remaining[position].current = current[remaining[position].key!]
            }
        }
        remaining = try await self.checkStoredUniques(remaining, &outcomes, only: only, sql: sql)
        remaining = try await self.checkForeignKeys(remaining, &outcomes, only: only, sql: sql)
        return try await self.checkChecks(remaining, &outcomes, only: only, sql: sql)
    }

    /// What the items of one statement share: inserts or updates, of the same columns.
    private struct GroupKey: Hashable {
        let isInsert: Bool
        let columns: [Int]
    }

    /// What became of an ``attempt(_:deleting:sql:_:)``.
    private enum Attempt {
        case written([Int: StoredRow])
        /// Rolled back: the database refused it for a reason about a row, this one.
        case refused(ProblemDetails)
    }

    /// Runs `statement` for `items` after a savepoint, and rolls back to it when the database
    /// refuses it for a reason about a row. Any other failure is thrown.
    private func attempt(
        _ items: [Pending], deleting: Bool, _ savepoints: inout Savepoints, sql: any SQLDatabase, _ statement: TableStatement
    ) async throws -> Attempt {
        switch try await savepoints.attempt(sql, { try await statement(items, sql) }) {
        case .success(let rows): return .written(rows)
        case .failure(let error):
            guard let problem = TableViolation.problem(error, schema: self.schema, deleting: deleting) else { throw error }
            return .refused(problem)
        }
    }

    /// `problem`, the database's refusal of `item` alone, in the table's own words when it is a
    /// UNIQUE value another row holds.
    private func worded(_ problem: ProblemDetails, for item: Pending) -> ProblemDetails {
        guard case .string(let name)? = problem.extensions["constraint"], problem.status == .conflict,
            let unique = self.schema.uniques.first(where: { $0.name == name })
        else { return problem }
        return self.items.taken(unique, values: item.values, holder: nil, byBatch: false)
    }

    /// Finds the items the database refuses by group testing over savepoints, in the items' order:
    /// runs `statement` for a part of the items at a time, as long as the mean spacing of the
    /// refusals found so far (at first, all that is left); when the database refuses a part for a
    /// reason about a row, halves it until its first refused item is alone and has the database's
    /// own error, writing each half found good on the way, then goes on after that item. k
    /// refused items of n cost about k·(log₂(n/k) + 2) statements, near the fewest any test by
    /// parts can take; halving the whole, plain bisection, takes half as many again, and writes
    /// each row anew at every level while the parts still all fail. `knownToFail` skips running
    /// all of `items` when that just failed.
    func isolate(
        _ items: [Pending],
        deleting: Bool,
        knownToFail: Bool,
        _ savepoints: inout Savepoints,
        sql: any SQLDatabase,
        _ statement: @escaping TableStatement
    ) async throws -> (rows: [Int: StoredRow], failures: [Int: ProblemDetails]) {
        var rows: [Int: StoredRow] = [:]
        var failures: [Int: ProblemDetails] = [:]
        var position = 0
        // items[position..<refusedBefore] hold an item the database refuses.
        var refusedBefore: Int? = knownToFail ? items.count : nil
        while position < items.count {
            let end =
                refusedBefore.map { $0 - position == 1 ? $0 : position + ($0 - position) / 2 }
                ?? min(items.count, position + (failures.isEmpty ? items.count : max(1, position / failures.count)))
            let part = Array(items[position..<end])
            switch try await self.attempt(part, deleting: deleting, &savepoints, sql: sql, statement) {
            case .written(let written):
                rows.merge(written) { first, _ in first }
                position = end
                if refusedBefore == end { refusedBefore = nil }
            case .refused(let problem) where part.count == 1:
                failures[part[0].index] = self.worded(problem, for: part[0])
                position = end
                refusedBefore = nil
            case .refused:
                refusedBefore = end
            }
        }
        return (rows, failures)
    }

    /// The savepoints one set of items is written after. A statement the database refuses rolls
    /// back to the newest, which stays for the next; one it writes leaves it behind, and the next
    /// statement opens another, nested: two round trips per statement where a savepoint of its own
    /// (open, roll back or release) takes three or four. ``release(_:)`` keeps what was written.
    struct Savepoints {
        private var opened = 0
        private var current = false

        mutating func attempt<T>(_ sql: any SQLDatabase, _ statement: () async throws -> T) async throws -> Result<T, any Error> {
            if !self.current {
                try await sql.raw("SAVEPOINT \(unsafeRaw: "isolate_\(self.opened)")").run()
                self.opened += 1
                self.current = true
            }
            do {
                let result = try await statement()
                self.current = false
                return .success(result)
            } catch {
                try await sql.raw("ROLLBACK TO SAVEPOINT \(unsafeRaw: "isolate_\(self.opened - 1)")").run()
                return .failure(error)
            }
        }

        mutating func release(_ sql: any SQLDatabase) async throws {
            guard self.opened > 0 else { return }
            try await sql.raw("RELEASE SAVEPOINT isolate_0").run()
            self = Savepoints()
        }
    }

    // MARK: - Statements

    /// One INSERT for `part` (all giving the same columns). When the database makes the keys, the
    /// stored rows, by item index; otherwise nothing (they are read back by key).
    private func insertRows(_ part: [Pending], sql: any SQLDatabase) async throws -> [Int: StoredRow] {
        let statements = self.statements
        let columns = part[0].values.columns
        var batch = TableStatements.Batch(columns: columns, capacity: part.count)
        for item in part { batch.append(index: item.index, values: item.values.values) }
        let names = columns.map(statements.column).joined(separator: ", ")
        let values = columns.map { "v.c\($0)" }.joined(separator: ", ")
        let insert: (SQLQueryString) -> SQLQueryString = { rows in
            "INSERT INTO \(unsafeRaw: statements.table) AS t (\(unsafeRaw: names)) SELECT \(unsafeRaw: values) FROM \(rows)"
        }
        guard part[0].key == nil else {
            _ = try await statements.run(batch, sql: sql, insert)
            return [:]
        }
        // Keys the database makes: a sequence or rowid counts up in the order rows are inserted,
        // which the sort makes the items' order (only here: it has SQLite's insert take half again as long).
        var rows = try await statements.returning(batch, sql: sql) { "\(insert($0)) ORDER BY v.i" }
        guard rows.count == part.count else { throw ProblemDetails.unexpectedDatabaseRow }
        if case .integer = self.schema.columns[self.schema.key[0]].type {
            rows.sort { ($0.key.first?.intValue ?? 0) < ($1.key.first?.intValue ?? 0) }
        }
        var made: [Int: StoredRow] = [:]
        for (item, row) in zip(part, rows) { made[item.index] = row }
        return made
    }

    /// One UPDATE for `part` (all changing the same columns).
    private func updateRows(_ part: [Pending], sql: any SQLDatabase) async throws -> [Int: StoredRow] {
        let statements = self.statements
        let key = self.schema.key
        let changed = part[0].values.columns
        var batch = TableStatements.Batch(columns: key + changed, capacity: part.count)
        for item in part { batch.append(index: item.index, values: item.key!, item.values.values) }
        var assignments = changed.map { "\(statements.column($0)) = v.c\($0)" }
        if let version = self.schema.version { assignments.append("\(statements.column(version)) = t.\(statements.column(version)) + 1") }
        _ = try await statements.run(batch, sql: sql) { rows in
            """
            UPDATE \(unsafeRaw: statements.table) AS t SET \(unsafeRaw: assignments.joined(separator: ", "))
            FROM \(rows) WHERE \(unsafeRaw: statements.matching(key))
            """
        }
        return [:]
    }
}
