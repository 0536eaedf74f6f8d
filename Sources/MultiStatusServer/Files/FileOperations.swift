import HTTPTypes
import MultiStatus

/// The one write path for deleting, moving, copying and making folders, whichever route asks:
/// the store, the WebDAV locks that bind these changes, and the dead properties that belong to the
/// resources. WebDAV, `DELETE /files/…` and `POST /file-operations` all change the tree through
/// it, so a lock binds every route and no property outlives its resource or stays behind a move.
///
/// Every path is in one account's view (``scoped(to:principal:)``).
struct FileOperations: Sendable {
    private(set) var store: any FileStore
    private(set) var properties: PropertyStore
    private(set) var locks: LockStore

    init(store: any FileStore, properties: PropertyStore, locks: LockStore) {
        self.store = store
        self.properties = properties
        self.locks = locks
    }

    /// The same operations in the view of an account with root `root`, locks used in the name of `principal`.
    func scoped(to root: StorePath, principal: String?) -> FileOperations {
        guard !root.components.isEmpty || principal != nil else { return self }
        return FileOperations(
            store: self.store.view(under: root), properties: self.properties.scoped(to: root),
            locks: self.locks.scoped(to: root, principal: principal))
    }

    // MARK: Locks

    /// Throws ``MissingLockToken`` when a lock affecting one of `scopes` has none of its tokens in `submitted`.
    func requireUnlocked(_ scopes: [LockScope], submitted: Set<String>) async throws {
        let held = try await self.locks.locks(affecting: scopes)
        try LockStore.requireTokens(of: held, for: scopes, submitted: submitted, by: self.locks.principal)
    }

    /// The same, as the 423 problem a route of `/files/` answers; `hint` says how to give the token.
    func requireUnlocked(_ scopes: [LockScope], submitted: Set<String>, hint: String) async throws {
        do {
            try await self.requireUnlocked(scopes, submitted: submitted)
        } catch let missing as MissingLockToken {
            throw ProblemDetails.locked(missing.root, prefix: "/files/", hint: hint)
        }
    }

    /// The lock tokens a request submits in its `If` header, as WebDAV clients do: how every route
    /// but `/file-operations` (which takes them per item) is given them.
    static func submittedTokens(_ fields: HTTPFields, limits: Limits) throws(ProblemDetails) -> Set<String> {
        guard let text = fields[.davIf] else { return [] }
        return try DAVIfHeader(parsing: text, maxBytes: limits.ifHeaderBytes, maxLists: limits.ifHeaderLists).submittedTokens
    }

    /// The 423 of each of `paths`, files about to be created or replaced, that a lock holds
    /// against `submitted`: a lock on the file, or, for a new file, on its folder. Without any
    /// lock in the store, nothing is read.
    func lockRefusals(writing paths: [StorePath], submitted: Set<String>, hint: String) async throws -> [StorePath: ProblemDetails] {
        guard !paths.isEmpty, self.locks.mayHoldLocks() else { return [:] }
        let existing = try await self.store.attributes(of: paths)
        let scopes = zip(paths, existing).map { path, item in [LockScope(path)] + (item == nil ? [LockScope(path.parent)] : []) }
        let held = try await self.locks.locks(affecting: scopes.flatMap { $0 })
        var refusals: [StorePath: ProblemDetails] = [:]
        for (path, scopes) in zip(paths, scopes) {
            do {
                try LockStore.requireTokens(of: held, for: scopes, submitted: submitted, by: self.locks.principal)
            } catch {
                refusals[path] = ProblemDetails.locked(error.root, prefix: "/files/", hint: hint)
            }
        }
        return refusals
    }

    /// What deleting the resource at `path` changes, for the lock check: it and what is below it, and its folder.
    static func deleting(_ path: StorePath) -> [LockScope] {
        [.init(path, includingBelow: true), .init(path.parent)]
    }

    /// What a move or copy to `destination` changes: the destination and what is below it, its
    /// folder when the destination is new; for a move, the source too and its folder.
    static func transferring(from source: StorePath, to destination: StorePath, replacing: Bool, move: Bool) -> [LockScope] {
        var scopes: [LockScope] = [.init(destination, includingBelow: true)]
        if !replacing { scopes.append(.init(destination.parent)) }
        if move { scopes += [.init(source, includingBelow: true), .init(source.parent)] }
        return scopes
    }

    // MARK: Changes

    /// Deletes the file or folder at `path` with everything below it, their properties and locks.
    /// - Parameters:
    ///   - fileOnly: refuse a folder (409) rather than delete it.
    ///   - recursive: delete a folder that is not empty (409 otherwise).
    /// - Returns: false when nothing was there.
    @discardableResult
    func remove(at path: StorePath, fileOnly: Bool = false, recursive: Bool = true) async throws -> Bool {
        let removed = try await fileOnly ? self.store.removeFile(at: path) : self.store.removeItem(at: path, recursive: recursive)
        try await self.forget(path)
        return removed
    }

    /// Renames `source` to `destination`, which must not exist; its properties go along, its locks
    /// stay behind and lapse (RFC 4918 section 9.9.4).
    func move(from source: StorePath, to destination: StorePath) async throws {
        try await self.store.moveItem(from: source, to: destination)
        try await self.carry(from: source, to: destination, move: true, recursive: true)
    }

    /// Copies `source` (with what is below it when `recursive`) to `destination`, which must not
    /// exist, with its properties; locks are not copied.
    func copy(from source: StorePath, to destination: StorePath, recursive: Bool) async throws {
        try await self.store.copyItem(from: source, to: destination, recursive: recursive)
        try await self.carry(from: source, to: destination, move: false, recursive: recursive)
    }

    /// Creates the folder at `path`.
    /// - Throws: 405 when something exists there, 409 when its parent is not a folder.
    func makeFolder(at path: StorePath) async throws {
        try await self.store.makeFolder(at: path)
    }

    /// Drops the properties and locks of `path` and below it, which are gone from the tree.
    func forget(_ path: StorePath) async throws {
        try await self.properties.removeAll(at: path)
        try await self.locks.removeAll(at: path)
    }

    /// Moves or copies the properties of `source` (and below it, when `recursive`) to
    /// `destination`, where the tree moved or copied it; a move leaves the source's locks to lapse.
    func carry(from source: StorePath, to destination: StorePath, move: Bool, recursive: Bool) async throws {
        try await self.properties.transfer(from: source, to: destination, recursive: recursive, keepSource: !move)
        if move { try await self.locks.removeAll(at: source) }
    }

    /// False when no resource has a dead property or a lock: nothing follows a change. One look at two marker files.
    func mayHoldMetadata() -> Bool {
        self.properties.marker.mayHoldRows() || self.locks.mayHoldLocks()
    }

    /// True when the folder at `path` has anything in it.
    func hasMembers(_ path: StorePath) async throws -> Bool {
        struct Found: Error {}
        do {
            try await self.store.forEachEntries(in: path, batchSize: 1, render: { !$0.isEmpty }) { if $0 { throw Found() } }
            return false
        } catch is Found {
            return true
        }
    }
}

extension ProblemDetails {
    /// 423: a lock held on `root` forbids the change without its token; `hint` says how to give it.
    static func locked(_ root: StorePath, prefix: String, hint: String) -> ProblemDetails {
        ProblemDetails(status: .locked, detail: "\(root.urlPath(under: prefix)) is locked; \(hint)")
    }
}
