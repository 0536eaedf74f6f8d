import MultiStatus
import SQLKit

/// Dead properties (RFC 4918 section 4): any property a client sets, of any namespace, kept in the
/// database with its resource's path, carried along by MOVE and COPY and removed with the resource.
///
/// A ``RowMarker`` lets PROPFIND, DELETE, COPY and MOVE skip the table in a store where no client
/// has set a property.
struct PropertyStore: Sendable {
    let database: Database
    let marker: RowMarker
    /// The folder the paths given are below: an account's root.
    private(set) var root = StorePath.root

    init(database: Database, markerPath: String) {
        self.database = database
        self.marker = RowMarker(database: database, path: markerPath, table: SQLIdentifier("dav_properties"), advisoryLock: 4919)
    }

    /// The same properties, with paths taken below `root`.
    func scoped(to root: StorePath) -> PropertyStore {
        var scoped = self
        scoped.root = self.root.appending(root)
        return scoped
    }

    /// A change asked for by PROPPATCH.
    enum Change: Sendable {
        case set(DAVProperty)
        case remove(DAVPropertyName)
    }

    /// The dead properties of `path` and, with `members`, those of each member of the folder
    /// `path` by member name: one query, for a PROPFIND's fixed cost is mostly its queries.
    func properties(of path: StorePath, members: Bool) async throws -> (own: [DAVProperty], members: [String: [DAVProperty]]) {
        guard self.marker.mayHoldRows() else { return ([], [:]) }
        let key = self.root.appending(path).description
        return try await self.database.withReader { sql in
            let rows = try await sql.select().columns("path", "namespace", "name", "value").from("dav_properties")
                .where { group in
                    let own = group.where("path", .equal, SQLBind(key))
                    return members ? own.orWhere("parent", .equal, SQLBind(key)) : own
                }
                .orderBy("namespace").orderBy("name")
                .all()
            var own: [DAVProperty] = []
            var byMember: [String: [DAVProperty]] = [:]
            for row in rows {
                let rowPath = try row.decode(column: "path", as: String.self)
                if rowPath == key {
                    own.append(try Self.property(row))
                } else {
                    byMember[String(rowPath.split(separator: "/").last ?? ""), default: []].append(try Self.property(row))
                }
            }
            return (own, byMember)
        }
    }

    private static func property(_ row: any SQLRow) throws -> DAVProperty {
        DAVProperty(
            DAVPropertyName(try row.decode(column: "namespace", as: String.self), try row.decode(column: "name", as: String.self)),
            xml: try row.decode(column: "value", as: String.self)
        )
    }

    /// Applies `changes` to `path` in document order, all in one transaction.
    func apply(_ changes: [Change], to path: StorePath) async throws {
        let path = self.root.appending(path)
        let key = path.description
        let parent = path.components.isEmpty ? "" : path.parent.description
        let adds = changes.contains { if case .set = $0 { true } else { false } }
        guard adds || self.marker.mayHoldRows() else { return }
        try await self.marker.exclusively { sql in
            // The marker comes before a row is written, and may go after removals that empty the table.
            if adds { try await self.marker.update(in: sql, creating: true) }
            for change in changes {
                switch change {
                case .set(let property):
                    try await Self.delete(property.name, at: key, in: sql)
                    try await sql.insert(into: "dav_properties")
                        .columns("path", "parent", "namespace", "name", "value")
                        .values(SQLBind(key), SQLBind(parent), SQLBind(property.name.namespace), SQLBind(property.name.name), SQLBind(property.xml))
                        .run()
                case .remove(let name):
                    try await Self.delete(name, at: key, in: sql)
                }
            }
            if !adds { try await self.marker.update(in: sql) }
        }
    }

    private static func delete(_ name: DAVPropertyName, at key: String, in sql: any SQLDatabase) async throws {
        try await sql.delete(from: "dav_properties")
            .where("path", .equal, SQLBind(key))
            .where("namespace", .equal, SQLBind(name.namespace))
            .where("name", .equal, SQLBind(name.name))
            .run()
    }

    /// Removes the properties of `path` and of everything below it.
    func removeAll(at path: StorePath) async throws {
        guard self.marker.mayHoldRows() else { return }
        let path = self.root.appending(path)
        try await self.marker.exclusively { sql in
            try await sql.delete(from: "dav_properties")
                .where { $0.where("path", .equal, SQLBind(path.description)).orWhere { Self.below(path, in: $0) } }
                .run()
            try await self.marker.update(in: sql)
        }
    }

    /// Moves the properties of `source` (and, when `recursive`, of everything below it) to `destination`;
    /// with `keepSource` they are copied instead.
    func transfer(from source: StorePath, to destination: StorePath, recursive: Bool, keepSource: Bool) async throws {
        let (source, destination) = (self.root.appending(source), self.root.appending(destination))
        let old = source.description
        let new = destination.description
        // SQL's substr counts characters from 1: everything after the old prefix.
        let rest = old.unicodeScalars.count + 1
        let newParent = destination.parent.description
        guard self.marker.mayHoldRows() else { return }
        // Exclusive, like every change to the table: a copy must not land after another process found it empty.
        try await self.marker.exclusively { sql in
            if keepSource {
                let subtree =
                    recursive
                    ? "(path = \(bind: old) OR (path >= \(bind: old + "/") AND path < \(bind: old + "0")))" as SQLQueryString : "path = \(bind: old)"
                try await sql.raw(
                    """
                    INSERT INTO dav_properties (path, parent, namespace, name, value)
                    SELECT \(bind: new) || substr(path, CAST(\(bind: rest) AS INTEGER)),
                           CASE WHEN path = \(bind: old) THEN \(bind: newParent) ELSE \(bind: new) || substr(parent, CAST(\(bind: rest) AS INTEGER)) END,
                           namespace, name, value
                    FROM dav_properties WHERE \(subtree)
                    """
                ).run()
            } else {
                try await sql.raw(
                    """
                    UPDATE dav_properties SET
                        parent = CASE WHEN path = \(bind: old) THEN \(bind: newParent) ELSE \(bind: new) || substr(parent, CAST(\(bind: rest) AS INTEGER)) END,
                        path = \(bind: new) || substr(path, CAST(\(bind: rest) AS INTEGER))
                    WHERE path = \(bind: old) OR (path >= \(bind: old + "/") AND path < \(bind: old + "0"))
                    """
                ).run()
            }
        }
    }

    /// The condition "the row's path is below `path`" (byte order: `a/` ≤ p < `a0`; everything but the root for the root).
    static func below(_ path: StorePath, in group: SQLPredicateGroupBuilder) -> SQLPredicateGroupBuilder {
        if path.components.isEmpty { return group.where("path", .notEqual, SQLBind("")) }
        let prefix = path.description
        return group.where("path", .greaterThanOrEqual, SQLBind(prefix + "/")).where("path", .lessThan, SQLBind(prefix + "0"))
    }
}
