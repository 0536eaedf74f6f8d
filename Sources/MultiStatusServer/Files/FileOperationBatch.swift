import Foundation
import MultiStatus

/// One item of `POST /file-operations`:
/// `{"op": "delete" | "move" | "copy" | "mkdir", "path", "to", "overwrite", "recursive", "ifMatch", "lockToken"}`.
struct FileOperation: Sendable, Hashable {
    enum Kind: String, Sendable, CaseIterable {
        case delete, move, copy, mkdir
    }

    var kind: Kind
    var path: StorePath
    /// The destination of a move or copy.
    var to: StorePath?
    /// Replace what is at `to`.
    var overwrite = false
    /// Delete a folder with what is in it; copy a folder with what is in it.
    var recursive = false
    /// The entity tag `path` must have.
    var ifMatch: String?
    /// The token of a WebDAV lock that binds the change.
    var lockToken: String?

    /// The members an item may have.
    static let members: Set<String> = ["op", "path", "to", "overwrite", "recursive", "ifMatch", "lockToken"]

    /// Reads one item: 400 for a wrong type, a missing member or a bad name; 422 for an unknown
    /// operation or member.
    init(_ item: JSONValue) throws(ProblemDetails) {
        guard case .object(let members) = item else {
            throw ProblemDetails(status: .badRequest, detail: #"an operation is an object: {"op": "move", "path": "a.txt", "to": "b.txt"}"#)
        }
        if let unknown = members.keys.filter({ !Self.members.contains($0) }).sorted().first {
            throw ProblemDetails(
                status: .unprocessableContent,
                detail: "unknown member \"\(unknown)\"; an operation has \(Self.members.sorted().joined(separator: ", "))")
        }
        let op = try Self.string(members, "op", required: true)!
        guard let kind = Kind(rawValue: op) else {
            throw ProblemDetails(
                status: .unprocessableContent, detail: "unknown op \"\(op)\"; one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.kind = kind
        self.path = try StorePath(relative: try Self.string(members, "path", required: true)!)
        let to = try Self.string(members, "to", required: kind == .move || kind == .copy)
        if to != nil && (kind == .delete || kind == .mkdir) {
            throw ProblemDetails(status: .unprocessableContent, detail: "\(op) takes no \"to\"")
        }
        self.to = try to.map { text throws(ProblemDetails) in try StorePath(relative: text) }
        self.overwrite = try Self.bool(members, "overwrite")
        self.recursive = try Self.bool(members, "recursive")
        self.ifMatch = try Self.string(members, "ifMatch", required: false)
        self.lockToken = try Self.string(members, "lockToken", required: false)
    }

    init(kind: Kind, path: StorePath, to: StorePath? = nil) {
        self.kind = kind
        self.path = path
        self.to = to
    }

    private static func string(_ members: [String: JSONValue], _ name: String, required: Bool) throws(ProblemDetails) -> String? {
        switch members[name] {
        case .string(let text)?: return text
        case nil, .null?:
            if required { throw ProblemDetails(status: .badRequest, detail: "\"\(name)\" is missing") }
            return nil
        default: throw ProblemDetails(status: .badRequest, detail: "\"\(name)\" must be a string")
        }
    }

    private static func bool(_ members: [String: JSONValue], _ name: String) throws(ProblemDetails) -> Bool {
        switch members[name] {
        case .bool(let value)?: return value
        case nil, .null?: return false
        default: throw ProblemDetails(status: .badRequest, detail: "\"\(name)\" must be true or false")
        }
    }
}

/// Applies the items of `POST /file-operations` in order, each through ``FileOperations`` (so that
/// locks bind them and properties follow), one status each.
///
/// Partial (the default): each item is applied or refused on its own (on a ``DirectTree``); a
/// later item sees what the earlier ones did (a folder made, then a file moved into it).
///
/// Atomic: every item is first checked against the tree the items before it would leave (a
/// ``PlannedTree``), so that each failing item is named with its own status; when one fails,
/// nothing is applied. Then the items are applied in order on a ``JournaledTree``: a delete, or a
/// destination replaced, only sets the item aside, and properties and locks stay as they are. When
/// an item still fails (a race, a full disk), what the earlier ones did is undone in reverse
/// order and nothing is left changed; when all succeed, properties and locks follow and what was
/// set aside is deleted.
struct FileOperationBatch {
    let operations: FileOperations

    typealias Items = [(id: JSONValue, operation: Result<FileOperation, ProblemDetails>)]

    /// The outcomes of `items`, each read or refused as it was read, in order.
    func apply(_ items: Items, atomic: Bool) async throws -> [ItemResult] {
        guard atomic else {
            var tree = DirectTree(operations: self.operations)
            var results: [ItemResult] = []
            var index = 0
            while index < items.count {
                if let run = self.plainRun(items, from: index) {
                    results += await self.applyPlain(Array(items[run]))
                    index = run.upperBound
                } else {
                    results.append(await self.outcome(of: items[index], on: &tree))
                    index += 1
                }
            }
            return results
        }
        var plan = PlannedTree(operations: self.operations)
        var checked: [ItemResult] = []
        for item in items { checked.append(await self.outcome(of: item, on: &plan)) }
        guard checked.allSatisfy(\.succeeded) else { return checked }
        // What an atomic batch changes is journaled first, so that a crash is undone at the next start.
        var tree = try JournaledTree(operations: self.operations)
        var results: [ItemResult] = []
        for (index, item) in items.enumerated() {
            let result = await self.outcome(of: item, on: &tree)
            results.append(result)
            if !result.succeeded {
                try await tree.undo()
                return results
                    + zip(items[(index + 1)...], checked[(index + 1)...]).map { item, planned in
                        ItemResult(id: item.id, status: planned.status, message: "Not tried", fields: planned.fields)
                    }
            }
        }
        try await tree.finish()
        return results
    }

    /// The outcome of one item on `tree`: refused as it was read, or applied, or refused as it was tried.
    private func outcome(of item: Items.Element, on tree: inout some FileBatchTree) async -> ItemResult {
        switch item.operation {
        case .failure(let problem): return ItemResult(id: item.id, problem: problem)
        case .success(let operation):
            do {
                return try await self.apply(operation, id: item.id, on: &tree)
            } catch {
                return ItemResult(id: item.id, problem: Self.problem(error), fields: Self.fields(operation))
            }
        }
    }

    /// A delete or a move that needs no look before it is made: no `ifMatch`, no `overwrite`, not
    /// the root, not into itself. The store refuses what is missing, taken or not empty itself.
    private static func isPlain(_ operation: FileOperation) -> Bool {
        guard operation.ifMatch == nil, !operation.path.components.isEmpty else { return false }
        switch operation.kind {
        case .delete: return true
        case .move:
            guard let to = operation.to, !operation.overwrite, !to.components.isEmpty else { return false }
            return to != operation.path && !to.isBelow(operation.path)
        case .copy, .mkdir: return false
        }
    }

    /// The items from `start` on that are plain (``isPlain(_:)``) and of one kind, when there are
    /// several and no lock exists anywhere: applied with one look at the disk for them all.
    private func plainRun(_ items: Items, from start: Int) -> Range<Int>? {
        var end = start
        var kind: FileOperation.Kind?
        while end < items.count, case .success(let operation) = items[end].operation, Self.isPlain(operation), kind == nil || kind == operation.kind {
            kind = operation.kind
            end += 1
        }
        guard end - start > 1, !self.operations.locks.mayHoldLocks() else { return nil }
        return start..<end
    }

    /// Applies a run of plain deletes or moves (``plainRun(_:from:)``) in order, in one job of the store.
    private func applyPlain(_ run: Items) async -> [ItemResult] {
        let operations = run.compactMap { try? $0.operation.get() }
        let store = self.operations.store
        // Per item: for a move, whether it was a folder; for a delete, whether anything was there.
        let done =
            operations.first?.kind == .move
            ? await store.moveItems(operations.map { ($0.path, $0.to!) }) : await store.removeItems(operations.map { ($0.path, $0.recursive) })
        // Read once for the run: without a property or a lock anywhere, nothing follows the items.
        let metadata = self.operations.mayHoldMetadata()
        var results: [ItemResult] = []
        for ((id, _), (operation, outcome)) in zip(run, zip(operations, done)) {
            do {
                let flag = try outcome.get()
                if let to = operation.to {
                    if metadata { try await self.operations.carry(from: operation.path, to: to, move: true, recursive: true) }
                    results.append(ItemResult(id: id, status: .created, location: Self.location(to, isFolder: flag), fields: Self.fields(operation)))
                } else {
                    guard flag else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(operation.path)\"") }
                    if metadata { try await self.operations.forget(operation.path) }
                    results.append(ItemResult(id: id, status: .noContent, message: "Deleted", fields: Self.fields(operation)))
                }
            } catch {
                results.append(ItemResult(id: id, problem: Self.problem(error), fields: Self.fields(operation)))
            }
        }
        return results
    }

    /// The problem of a failed item; a failure nobody described is a 500 of that item alone.
    static func problem(_ error: any Error) -> ProblemDetails {
        (error as? any ItemFailure)?.problem ?? ProblemDetails(status: .internalServerError, detail: "the operation failed")
    }

    private static func fields(_ operation: FileOperation) -> [String: JSONValue] {
        var fields: [String: JSONValue] = ["op": .string(operation.kind.rawValue)]
        if let to = operation.to { fields["to"] = .string(to.description) }
        return fields
    }

    /// Checks `operation` against `tree` and applies it there.
    private func apply(_ operation: FileOperation, id: JSONValue, on tree: inout some FileBatchTree) async throws -> ItemResult {
        let path = operation.path
        let tokens: Set<String> = operation.lockToken.map { [$0] } ?? []
        let fields = Self.fields(operation)
        if operation.kind == .mkdir {
            // The path and its folder, in one look, as for a move.
            let found = try await tree.look([path, path.parent])
            guard found[0] == nil else { throw ProblemDetails(status: .conflict, detail: "\"\(path)\" already exists") }
            guard found[1]?.isDirectory == true else { throw ProblemDetails(status: .conflict, detail: "the folder of \"\(path)\" does not exist") }
            try await self.requireUnlocked([.init(path), .init(path.parent)], tokens)
            do {
                try await tree.makeFolder(at: path)
            } catch let problem as ProblemDetails where problem.status == .methodNotAllowed {
                throw ProblemDetails(status: .conflict, detail: "\"\(path)\" already exists")
            }
            return ItemResult(id: id, status: .created, location: Self.location(path, isFolder: true), fields: fields)
        }
        guard !path.components.isEmpty else {
            throw ProblemDetails(status: .forbidden, detail: "the root folder cannot be deleted, moved or copied")
        }
        // What the item reads, in one look: the path, and a destination's folder and itself.
        let found = try await tree.look([path] + (operation.to.map { [$0.parent, $0] } ?? []))
        guard let item = found[0] else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(path)\"") }
        if let ifMatch = operation.ifMatch, let etag = item.etag, !ETagList.matches(ifMatch, etag) {
            throw ProblemDetails(status: .preconditionFailed, detail: "ifMatch \(ifMatch) does not match \"\(path)\", whose ETag is \(etag)")
        }
        if item.isDirectory, !operation.recursive, operation.kind != .move, try await tree.hasMembers(path) {
            throw ProblemDetails(
                status: .conflict, detail: "the folder \"\(path)\" is not empty; set \"recursive\": true to \(operation.kind.rawValue) it whole")
        }
        guard let to = operation.to else {
            try await self.requireUnlocked(FileOperations.deleting(path), tokens)
            try await tree.remove(path)
            return ItemResult(id: id, status: .noContent, message: "Deleted", fields: fields)
        }
        guard !to.components.isEmpty else { throw ProblemDetails(status: .conflict, detail: "the root folder cannot be replaced") }
        guard to != path, !to.isBelow(path) else {
            throw ProblemDetails(status: .conflict, detail: "\"\(to)\" is \(to == path ? "the same as" : "inside") \"\(path)\"")
        }
        guard found[1]?.isDirectory == true else { throw ProblemDetails(status: .conflict, detail: "the folder of \"\(to)\" does not exist") }
        let replaced = found[2] != nil
        if replaced && !operation.overwrite {
            throw ProblemDetails(status: .conflict, detail: "\"\(to)\" exists; set \"overwrite\": true to replace it")
        }
        // Replacing a folder that holds the source would delete the source with it.
        guard !replaced || !path.isBelow(to) else {
            throw ProblemDetails(status: .conflict, detail: "\"\(to)\" holds \"\(path)\" and cannot be replaced by it")
        }
        let move = operation.kind == .move
        try await self.requireUnlocked(FileOperations.transferring(from: path, to: to, replacing: replaced, move: move), tokens)
        if replaced { try await tree.remove(to) }
        try await tree.transfer(from: path, to: to, move: move, recursive: operation.recursive || !item.isDirectory)
        return ItemResult(
            id: id, status: replaced ? .ok : .created, message: replaced ? "Replaced" : "Created",
            location: Self.location(to, isFolder: item.isDirectory), fields: fields)
    }

    /// 423 when a lock affecting `scopes` is held and `tokens` has none of its tokens.
    private func requireUnlocked(_ scopes: [LockScope], _ tokens: Set<String>) async throws {
        try await self.operations.requireUnlocked(scopes, submitted: tokens, hint: "give its token in \"lockToken\"")
    }

    private static func location(_ path: StorePath, isFolder: Bool) -> String {
        path.urlPath(under: "/files/") + (isFolder ? "/" : "")
    }
}
