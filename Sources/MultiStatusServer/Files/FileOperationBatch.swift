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
/// Partial (the default): each item is applied or refused on its own; a later item sees what the
/// earlier ones did (a folder made, then a file moved into it).
///
/// Atomic: the items are applied in order as well, but a delete, or a destination replaced, only
/// sets the item aside in the store's staging area, and properties and locks are left as they are.
/// When an item fails, what the earlier ones did is undone in reverse order (moves moved back,
/// copies and new folders removed, what was set aside put back) and nothing is left changed.
/// When all succeed, properties and locks follow in the items' order and what was set aside is
/// deleted.
struct FileOperationBatch {
    let operations: FileOperations

    /// What an applied item did, to undo it or to finish it.
    private enum Applied {
        case detached(StorePath, DetachedItem)
        case moved(from: StorePath, to: StorePath)
        case copied(from: StorePath, to: StorePath, recursive: Bool)
        case made(StorePath)
    }

    /// The outcomes of `items`, each read or refused as it was read, in order.
    func apply(_ items: [(id: JSONValue, operation: Result<FileOperation, ProblemDetails>)], atomic: Bool) async throws -> [ItemResult] {
        var results: [ItemResult] = []
        var journal: [Applied]? = atomic ? [] : nil
        // An atomic batch with an item refused as it was read applies nothing.
        var failed = atomic && items.contains { if case .failure = $0.operation { true } else { false } }
        // What an atomic batch changes is logged first, so that a crash is undone at the next start.
        let log = atomic && !failed ? try self.operations.store.openJournal() : nil
        var index = 0
        while index < items.count {
            if !atomic, let run = self.plainRun(items, from: index) {
                results += await self.applyPlain(Array(items[run]))
                index = run.upperBound
                continue
            }
            let (id, item) = items[index]
            index += 1
            switch item {
            case .failure(let problem):
                results.append(ItemResult(id: id, problem: problem))
            case .success(let operation) where failed:
                results.append(ItemResult(id: id, status: .ok, message: "Not tried", fields: Self.fields(operation)))
            case .success(let operation):
                do {
                    results.append(try await self.apply(operation, id: id, journal: &journal, log: log))
                } catch {
                    results.append(ItemResult(id: id, problem: Self.problem(error), fields: Self.fields(operation)))
                    if atomic {
                        failed = true
                        try await self.undo(journal ?? [])
                        log?.remove()
                    }
                }
            }
        }
        if let journal, !failed {
            try log?.commit()
            try await self.finish(journal)
            log?.remove()
        }
        return results
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
    private func plainRun(_ items: [(id: JSONValue, operation: Result<FileOperation, ProblemDetails>)], from start: Int) -> Range<Int>? {
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
    private func applyPlain(_ run: [(id: JSONValue, operation: Result<FileOperation, ProblemDetails>)]) async -> [ItemResult] {
        let operations = run.compactMap { try? $0.operation.get() }
        let store = self.operations.store
        // Per item: for a move, whether it was a folder; for a delete, whether anything was there.
        let done =
            operations.first?.kind == .move
            ? await store.moveItems(operations.map { ($0.path, $0.to!) }) : await store.removeItems(operations.map { ($0.path, $0.recursive) })
        var results: [ItemResult] = []
        for ((id, _), (operation, outcome)) in zip(run, zip(operations, done)) {
            do {
                let flag = try outcome.get()
                if let to = operation.to {
                    try await self.operations.carry(from: operation.path, to: to, move: true, recursive: true)
                    results.append(ItemResult(id: id, status: .created, location: Self.location(to, isFolder: flag), fields: Self.fields(operation)))
                } else {
                    guard flag else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(operation.path)\"") }
                    try await self.operations.forget(operation.path)
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

    private func apply(_ operation: FileOperation, id: JSONValue, journal: inout [Applied]?, log: StoreJournal?) async throws -> ItemResult {
        let store = self.operations.store
        let path = operation.path
        let tokens: Set<String> = operation.lockToken.map { [$0] } ?? []
        let fields = Self.fields(operation)
        if operation.kind == .mkdir {
            // The path and its folder, in one look, as for a move.
            let found = try await store.attributes(of: [path, path.parent])
            guard found[0] == nil else { throw ProblemDetails(status: .conflict, detail: "\"\(path)\" already exists") }
            guard found[1]?.isDirectory == true else { throw ProblemDetails(status: .conflict, detail: "the folder of \"\(path)\" does not exist") }
            try await self.requireUnlocked([.init(path), .init(path.parent)], tokens)
            do {
                try log?.record(.made(store.journalPath(path)))
                try await self.operations.makeFolder(at: path)
            } catch let problem as ProblemDetails where problem.status == .methodNotAllowed {
                throw ProblemDetails(status: .conflict, detail: "\"\(path)\" already exists")
            }
            journal?.append(.made(path))
            return ItemResult(id: id, status: .created, location: Self.location(path, isFolder: true), fields: fields)
        }
        guard !path.components.isEmpty else {
            throw ProblemDetails(status: .forbidden, detail: "the root folder cannot be deleted, moved or copied")
        }
        // A plain delete is one look at the disk: the store refuses a folder that is not empty itself.
        if operation.kind == .delete, operation.ifMatch == nil, journal == nil {
            try await self.requireUnlocked(FileOperations.deleting(path), tokens)
            guard try await self.operations.remove(at: path, recursive: operation.recursive) else {
                throw ProblemDetails(status: .notFound, detail: "nothing at \"\(path)\"")
            }
            return ItemResult(id: id, status: .noContent, message: "Deleted", fields: fields)
        }
        // What the item reads, in one look: the path, and a destination's folder and itself.
        let found = try await store.attributes(of: [path] + (operation.to.map { [$0.parent, $0] } ?? []))
        guard let item = found[0] else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(path)\"") }
        if let ifMatch = operation.ifMatch, !ETagList.matches(ifMatch, item.etag) {
            throw ProblemDetails(status: .preconditionFailed, detail: "ifMatch \(ifMatch) does not match \"\(path)\", whose ETag is \(item.etag)")
        }
        if item.isDirectory, !operation.recursive, operation.kind != .move, try await self.operations.hasMembers(path) {
            throw ProblemDetails(
                status: .conflict, detail: "the folder \"\(path)\" is not empty; set \"recursive\": true to \(operation.kind.rawValue) it whole")
        }
        guard let to = operation.to else {
            try await self.requireUnlocked(FileOperations.deleting(path), tokens)
            if journal != nil {
                if let detached = try await store.detach(path, journal: log) { journal?.append(.detached(path, detached)) }
            } else {
                try await self.operations.remove(at: path)
            }
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
        let move = operation.kind == .move
        try await self.requireUnlocked(FileOperations.transferring(from: path, to: to, replacing: replaced, move: move), tokens)
        if replaced {
            if journal != nil {
                if let detached = try await store.detach(to, journal: log) { journal?.append(.detached(to, detached)) }
            } else {
                try await self.operations.remove(at: to)
            }
        }
        let recursive = operation.recursive || !item.isDirectory
        try log?.record(move ? .moved(from: store.journalPath(path), to: store.journalPath(to)) : .copied(to: store.journalPath(to)))
        switch (move, journal != nil) {
        case (true, true): try await store.moveItem(from: path, to: to)
        case (true, false): try await self.operations.move(from: path, to: to)
        case (false, true): try await store.copyItem(from: path, to: to, recursive: recursive)
        case (false, false): try await self.operations.copy(from: path, to: to, recursive: recursive)
        }
        journal?.append(move ? .moved(from: path, to: to) : .copied(from: path, to: to, recursive: recursive))
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

    /// Undoes what an atomic batch did, newest first.
    private func undo(_ journal: [Applied]) async throws {
        let store = self.operations.store
        for applied in journal.reversed() {
            switch applied {
            case .detached(let path, let item): try await store.reattach(item, at: path)
            case .moved(let from, let to): try await store.moveItem(from: to, to: from)
            case .copied(_, let to, _), .made(let to): _ = try await store.removeItem(at: to)
            }
        }
    }

    /// Brings properties and locks along with what an atomic batch did, in its order, then deletes
    /// what it set aside.
    private func finish(_ journal: [Applied]) async throws {
        for applied in journal {
            switch applied {
            case .detached(let path, _): try await self.operations.forget(path)
            case .moved(let from, let to): try await self.operations.carry(from: from, to: to, move: true, recursive: true)
            case .copied(let from, let to, let recursive): try await self.operations.carry(from: from, to: to, move: false, recursive: recursive)
            case .made: break
            }
        }
        for case .detached(_, let item) in journal { await self.operations.store.purge(item) }
    }
}
