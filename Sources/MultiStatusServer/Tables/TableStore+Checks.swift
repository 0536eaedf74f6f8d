import MultiStatus
import SQLKit

/// The constraints a batch is checked against set-based, each refusing the items that break it
/// with a precise problem and giving back the others.
extension TableStore {
    /// Which constraints to check: all, or the one a refusal named.
    enum Constraints {
        case all
        case named(String)

        func includes(_ name: String) -> Bool {
            switch self {
            case .all: true
            case .named(let named): named == name
            }
        }
    }

    /// 409 for a later item giving a UNIQUE value (or key) an earlier item of the batch gives.
    func checkBatchUniques(_ pending: [Pending], _ outcomes: inout Outcomes) -> [Pending] {
        var refused: Set<Int> = []
        for unique in self.schema.uniques {
            var seen: Set<[JSONValue]> = []
            seen.reserveCapacity(pending.count)
            var seenOne: Set<JSONValue> = []
            seenOne.reserveCapacity(unique.columns.count == 1 ? pending.count : 0)
            for item in pending where !refused.contains(item.index) && item.touches(unique.columns) {
                let inserted: Bool
                if unique.columns.count == 1 {
                    guard let value = item.final(unique.columns[0]), value != .null else { continue }
                    inserted = seenOne.insert(value).inserted
                } else {
                    guard let values = item.finals(unique.columns), !values.contains(.null) else { continue }
                    inserted = seen.insert(values).inserted
                }
                if !inserted {
                    refused.insert(item.index)
                    outcomes.items[item.index] = ItemResult(
                        id: self.id(item),
                        problem: self.items.taken(unique, values: item.values, holder: nil, byBatch: true))
                }
            }
        }
        return refused.isEmpty ? pending : pending.filter { !refused.contains($0.index) }
    }

    /// The items of `pending` that set some of `columns` and whose final values of `columns` are all
    /// known (and, unless `nulls`, not null), as one batch of those columns.
    private func batch(of pending: [Pending], _ columns: [Int], nulls: Bool = false) -> (batch: TableStatements.Batch, owners: [Int: Pending]) {
        var batch = TableStatements.Batch(columns: columns, capacity: pending.count)
        var owners: [Int: Pending] = [:]
        for item in pending where item.touches(columns) {
            guard let values = item.finals(columns), nulls || !values.contains(.null) else { continue }
            batch.append(index: item.index, values: values)
            owners[item.index] = item
        }
        return (batch, owners)
    }

    /// 409 for an item giving a UNIQUE value (or key) that a stored row holds: one query per constraint.
    func checkStoredUniques(
        _ pending: [Pending], _ outcomes: inout Outcomes, only: Constraints = .all, sql: any SQLDatabase
    ) async throws -> [Pending] {
        let statements = self.statements
        let key = self.schema.key
        var refused: Set<Int> = []
        for unique in self.schema.uniques where only.includes(unique.name) {
            // Rows this batch changes there may give their values up; the database decides those.
            let changing = Set(pending.compactMap { !$0.isInsert && $0.touches(unique.columns) ? $0.key : nil })
            let (batch, owners) = self.batch(of: pending.filter { !refused.contains($0.index) }, unique.columns)
            let found = try statements.foldedRows(
                try await statements.run(batch, sql: sql) { rows in
                    """
                    SELECT \(statements.engine.jsonRows(of: ["v.i"] + key.map { "t.\(statements.column($0))" })) FROM \(rows)
                    JOIN \(unsafeRaw: statements.table) AS t ON \(unsafeRaw: statements.matching(unique.columns))
                    """
                })
            for row in found {
                guard let index = row.first?.intValue, let item = owners[index] else { throw ProblemDetails.unexpectedDatabaseRow }
                let holder = Array(row.dropFirst())
                if let own = item.key, !item.isInsert, own == holder { continue }
                if changing.contains(holder) { continue }
                refused.insert(index)
                outcomes.items[index] = ItemResult(
                    id: self.id(item),
                    problem: self.items.taken(unique, values: item.values, holder: holder, byBatch: false))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// 409 for an item whose foreign key refers to no row: one query per foreign key.
    func checkForeignKeys(
        _ pending: [Pending], _ outcomes: inout Outcomes, only: Constraints = .all, sql: any SQLDatabase
    ) async throws -> [Pending] {
        let statements = self.statements
        var refused: Set<Int> = []
        // A table referring to itself may refer to rows of this very batch: the database decides those.
        for foreignKey in self.schema.foreignKeys where !foreignKey.refersToItself && only.includes(foreignKey.name) {
            let (batch, owners) = self.batch(of: pending.filter { !refused.contains($0.index) }, foreignKey.columns)
            let matching = zip(foreignKey.referencedColumns, foreignKey.columns).map { "p.\(TableStatements.quote($0)) = v.c\($1)" }.joined(
                separator: " AND ")
            let orphans = try statements.foldedRows(
                try await statements.run(batch, sql: sql) { rows in
                    """
                    SELECT \(statements.engine.jsonRows(of: ["v.i"])) FROM \(rows)
                    WHERE NOT EXISTS (SELECT 1 FROM \(unsafeRaw: foreignKey.referencedSQL) AS p WHERE \(unsafeRaw: matching))
                    """
                })
            for row in orphans {
                guard let index = row.first?.intValue, let item = owners[index], let values = item.finals(foreignKey.columns) else {
                    throw ProblemDetails.unexpectedDatabaseRow
                }
                refused.insert(index)
                outcomes.items[index] = ItemResult(
                    id: self.id(item),
                    problem: TableViolation.foreignKey(
                        foreignKey.name, deleting: false, detail: "\(foreignKey.referencedTable) has no row (\(TableKey.text(values)))"))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }

    /// 422 for an item whose row would break a CHECK constraint the catalog gives the expression
    /// of: the expression evaluated over the whole batch in one query per constraint. A row that
    /// leaves a column of it to a default is left to the database.
    func checkChecks(_ pending: [Pending], _ outcomes: inout Outcomes, only: Constraints = .all, sql: any SQLDatabase) async throws -> [Pending] {
        let statements = self.statements
        var refused: Set<Int> = []
        for check in self.schema.checks where only.includes(check.name) {
            let (batch, owners) = self.batch(of: pending.filter { !refused.contains($0.index) }, check.columns, nulls: true)
            // The columns under their own names, so that the expression reads them as it does in the table.
            let named = (["v.i"] + check.columns.map { "\(statements.stored("v.c\($0)", as: $0)) AS \(statements.column($0))" }).joined(
                separator: ", ")
            let broken = try statements.foldedRows(
                try await statements.run(batch, sql: sql) { rows in
                    """
                    SELECT \(statements.engine.jsonRows(of: ["t.i"])) FROM (
                        SELECT \(unsafeRaw: named) FROM \(rows)
                    ) AS t WHERE NOT \(unsafeRaw: check.expression)
                    """
                })
            for row in broken {
                guard let index = row.first?.intValue, let item = owners[index] else { throw ProblemDetails.unexpectedDatabaseRow }
                refused.insert(index)
                outcomes.items[index] = ItemResult(
                    id: self.id(item),
                    problem: ProblemDetails(
                        status: .unprocessableContent, detail: "the row breaks CHECK constraint \(check.name)",
                        extensions: ["constraint": .string(check.name)]))
            }
        }
        return pending.filter { !refused.contains($0.index) }
    }
}
