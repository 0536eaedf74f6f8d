import Foundation
import MultiStatus
import SQLKit

/// A WebDAV lock (RFC 4918 section 6).
struct DAVLock: Sendable, Hashable {
    /// `urn:uuid:…`, given to the client in `Lock-Token`.
    var token: String
    /// The locked resource.
    var root: StorePath
    /// True for `Depth: infinity`: every member below the root is locked too.
    var depthInfinity: Bool
    /// Exclusive or shared.
    var exclusive: Bool
    /// The client's `<D:owner>` content, as XML.
    var owner: String
    /// The timeout granted, in seconds.
    var timeoutSeconds: Int
    /// When the lock lapses, in milliseconds since 1970.
    var expiresAt: Int
    /// The account that took it; `nil` when it was taken without accounts.
    var principal: String?

    /// True when `principal` may use the lock: refresh it, release it, or write under it with its
    /// token. Only its own account may, once accounts are in force; without accounts anyone may.
    func isUsable(by principal: String?) -> Bool {
        principal == nil || self.principal == nil || self.principal == principal
    }

    /// True when the lock covers `path`: its root, or below it with depth infinity.
    func covers(_ path: StorePath) -> Bool {
        path == self.root
            || (self.depthInfinity && path.isBelow(self.root))
    }
}

/// Something a method changes, for the lock check: a resource, and with `includingBelow` all its members.
struct LockScope: Sendable, Hashable {
    var path: StorePath
    var includingBelow = false

    init(_ path: StorePath, includingBelow: Bool = false) {
        self.path = path
        self.includingBelow = includingBelow
    }

    /// True when `lock` covers the resource or, with `includingBelow`, is held on a member below it.
    func isAffected(by lock: DAVLock) -> Bool {
        lock.covers(self.path) || (self.includingBelow && lock.root.isBelow(self.path))
    }
}

/// Locks, kept in the database so that every server process on it agrees on them.
///
/// Conflicts are checked and a lock written in one transaction that no other process can
/// interleave with; a ``RowMarker`` lets a write that finds no lock skip the query.
///
/// A store scoped to an account (``scoped(to:principal:)``) takes paths and answers locks in the
/// account's view, below its root, and takes locks in the account's name.
struct LockStore: Sendable {
    let database: Database
    let marker: RowMarker
    /// The folder the paths given are below: an account's root.
    private(set) var root = StorePath.root
    /// The account that asks, `nil` without accounts.
    private(set) var principal: String?

    init(database: Database, markerPath: String) {
        self.database = database
        self.marker = RowMarker(database: database, path: markerPath, table: SQLIdentifier("dav_locks"), advisoryLock: 4918)
    }

    /// The same locks in the view of an account with root `root`, asked for by `principal`.
    func scoped(to root: StorePath, principal: String?) -> LockStore {
        var scoped = self
        scoped.root = self.root.appending(root)
        scoped.principal = principal
        return scoped
    }

    /// A lock of the database (paths from the store's root) as this view sees it: a lock held above
    /// the root covers the whole view.
    private func inView(_ lock: DAVLock) -> DAVLock {
        var lock = lock
        lock.root = lock.root.relative(to: self.root) ?? .root
        return lock
    }

    private func full(_ scope: LockScope) -> LockScope {
        LockScope(self.root.appending(scope.path), includingBelow: scope.includingBelow)
    }

    /// False when no lock exists; cheap enough for any thread.
    func mayHoldLocks() -> Bool { self.marker.mayHoldRows() }

    /// Makes the marker agree with the table (at start, and after a version without it).
    func reconcile() async throws {
        try await self.marker.exclusively { sql in try await self.updateMarker(in: sql) }
    }

    /// Sweeps expired locks, then updates the marker.
    private func updateMarker(in sql: any SQLDatabase, creating: Bool = false) async throws {
        try await sql.delete(from: "dav_locks").where("expires_at", .lessThanOrEqual, SQLBind(Self.now())).run()
        try await self.marker.update(in: sql, creating: creating)
    }

    static func now() -> Int { Int(Date().timeIntervalSince1970 * 1000) }

    /// How many live locks there are, in the whole store (for the metrics).
    func heldCount() async throws -> Int {
        guard self.mayHoldLocks() else { return 0 }
        return try await self.database.withConnection { sql in
            let row = try await sql.select()
                .column(SQLAlias(SQLFunction("COUNT", args: SQLLiteral.all), as: SQLIdentifier("held")))
                .from("dav_locks")
                .where("expires_at", .greaterThan, SQLBind(Self.now()))
                .first()
            return try row?.decode(column: "held", as: Int.self) ?? 0
        }
    }

    /// The live locks that cover `path` (held on it or, with depth infinity, on a folder above it),
    /// and with `includingBelow` also those held on anything below it.
    func locks(covering path: StorePath, includingBelow: Bool = false) async throws -> [DAVLock] {
        try await self.locks(affecting: [LockScope(path, includingBelow: includingBelow)])
    }

    /// The live locks that affect any of `scopes`, in one query.
    func locks(affecting scopes: [LockScope]) async throws -> [DAVLock] {
        guard !scopes.isEmpty, self.mayHoldLocks() else { return [] }
        let scopes = scopes.map(self.full)
        return try await self.database.withConnection { sql in try await Self.locks(affecting: scopes, in: sql) }.map(self.inView)
    }

    private static func locks(affecting scopes: [LockScope], in sql: any SQLDatabase) async throws -> [DAVLock] {
        // Candidates: locks on each path or on a folder above it; the depth is checked in Swift.
        var held: Set<String> = []
        for scope in scopes {
            for length in 0...scope.path.components.count { held.insert(scope.path.components.prefix(length).joined(separator: "/")) }
        }
        let rows = try await sql.select().column("*").from("dav_locks")
            .where("expires_at", .greaterThan, SQLBind(Self.now()))
            .where { group in
                var group = group.orWhere("path", .in, SQLBind.group(held.sorted()))
                for scope in scopes where scope.includingBelow { group = group.orWhere { PropertyStore.below(scope.path, in: $0) } }
                return group
            }
            .all()
        let candidates = try rows.map { row in
            DAVLock(
                token: try row.decode(column: "token", as: String.self),
                root: try StorePath(relative: try row.decode(column: "path", as: String.self)),
                depthInfinity: try row.decode(column: "depth_infinity", as: Int.self) != 0,
                exclusive: try row.decode(column: "exclusive", as: Int.self) != 0,
                owner: try row.decode(column: "owner", as: String.self),
                timeoutSeconds: try row.decode(column: "timeout_seconds", as: Int.self),
                expiresAt: try row.decode(column: "expires_at", as: Int.self),
                principal: try row.decode(column: "principal", as: String?.self)
            )
        }
        return candidates.filter { lock in scopes.contains { $0.isAffected(by: lock) } }
    }

    /// Takes a new lock, in this store's principal's name, unless a live lock conflicts with it.
    /// - Returns: the conflicting locks (nothing was written), or an empty list when `lock` was taken.
    func take(_ lock: DAVLock) async throws -> [DAVLock] {
        var lock = lock
        lock.root = self.root.appending(lock.root)
        lock.principal = self.principal
        return try await self.marker.exclusively { [lock] sql in
            try await self.updateMarker(in: sql, creating: true)
            let existing = try await Self.locks(affecting: [LockScope(lock.root, includingBelow: lock.depthInfinity)], in: sql)
            let conflicts = existing.filter { $0.exclusive || lock.exclusive }
            guard conflicts.isEmpty else { return conflicts.map(self.inView) }
            try await sql.insert(into: "dav_locks")
                .columns("token", "path", "depth_infinity", "exclusive", "owner", "timeout_seconds", "expires_at", "principal")
                .values(
                    SQLBind(lock.token), SQLBind(lock.root.description), SQLBind(lock.depthInfinity ? 1 : 0), SQLBind(lock.exclusive ? 1 : 0),
                    SQLBind(lock.owner), SQLBind(lock.timeoutSeconds), SQLBind(lock.expiresAt), SQLBind(lock.principal)
                )
                .run()
            return []
        }
    }

    /// Extends a live lock by a new timeout; returns the refreshed lock.
    func refresh(_ lock: DAVLock, timeoutSeconds: Int) async throws -> DAVLock {
        var refreshed = lock
        refreshed.timeoutSeconds = timeoutSeconds
        refreshed.expiresAt = Self.now() + timeoutSeconds * 1000
        let expiresAt = refreshed.expiresAt
        try await self.database.withConnection { sql in
            try await sql.update("dav_locks")
                .set("timeout_seconds", to: SQLBind(timeoutSeconds))
                .set("expires_at", to: SQLBind(expiresAt))
                .where("token", .equal, SQLBind(lock.token))
                .run()
        }
        return refreshed
    }

    /// Removes the lock with `token`.
    func remove(token: String) async throws {
        try await self.marker.exclusively { sql in
            try await sql.delete(from: "dav_locks").where("token", .equal, SQLBind(token)).run()
            try await self.updateMarker(in: sql)
        }
    }

    /// Removes every lock held on `path` or below it (the resources are gone or moved away).
    func removeAll(at path: StorePath) async throws {
        guard self.mayHoldLocks() else { return }
        let path = self.root.appending(path)
        try await self.marker.exclusively { sql in
            try await sql.delete(from: "dav_locks")
                .where { $0.where("path", .equal, SQLBind(path.description)).orWhere { PropertyStore.below(path, in: $0) } }
                .run()
            try await self.updateMarker(in: sql)
        }
    }

    /// Refuses when a lock in `held` that affects one of `scopes` has none of its tokens in `submitted`.
    /// Of several shared locks on one resource, any one token is enough; a token counts only for
    /// the account that took its lock.
    static func requireTokens(of held: [DAVLock], for scopes: [LockScope], submitted: Set<String>, by principal: String?) throws(MissingLockToken) {
        for scope in scopes {
            let affecting = held.filter { scope.isAffected(by: $0) }
            for lock in affecting
            where !affecting.contains(where: { $0.root == lock.root && submitted.contains($0.token) && $0.isUsable(by: principal) }) {
                throw MissingLockToken(root: lock.root)
            }
        }
    }
}

/// A lock whose token a request did not submit.
struct MissingLockToken: Error {
    let root: StorePath
}
