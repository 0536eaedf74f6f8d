import MultiStatus
import SQLKit

/// An atomic batch (`Prefer: atomic`) that an item failed: thrown inside the batch's transaction,
/// so that the transaction is rolled back and nothing is applied, carrying the outcomes to
/// report. The items that would have been applied keep their success status; the atomic report
/// (``MultiStatusReport/atomic(collection:items:)``) makes them 424.
struct AtomicRollback: Error {
    let items: [ItemResult]
}

extension Database {
    /// Runs a batch in one transaction: committed when `body` returns; rolled back when it throws,
    /// and for an ``AtomicRollback`` answered with `rolledBack` of its items.
    func batchTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result,
        rolledBack: ([ItemResult]) throws -> Result
    ) async throws -> Result {
        do {
            return try await self.transaction(body)
        } catch let rollback as AtomicRollback {
            return try rolledBack(rollback.items)
        }
    }

    /// The same, for a batch whose answer is its items.
    func batchTransaction(_ body: @escaping @Sendable (any SQLDatabase) async throws -> [ItemResult]) async throws -> [ItemResult] {
        try await self.batchTransaction(body) { $0 }
    }
}
