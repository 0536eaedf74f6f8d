import MultiStatus
import SQLKit

/// Applies batches of user changes: validated first, then applied in one transaction with a few
/// statements whatever the batch size — the batch travels as one JSON parameter and rows come back
/// folded into one JSON row (see `Database+JSONBatch`).
struct UserStore: Sendable {
    let database: Database

    // MARK: - Update

    /// `PATCH /users`: one outcome per item, in request order, handed to `render`.
    ///
    /// The outcomes are final once decided, unless the write itself fails (and with it the whole
    /// request), so `render` runs on another thread while the database applies the changes.
    func update<Output: Sendable>(
        _ values: [JSONValue],
        atomic: Bool,
        render: @escaping @Sendable ([ItemResult]) throws -> Output
    ) async throws -> Output {
        // An item is reported under the id it gave, whatever its type (null when it gave none).
        let ids = values.map { $0.objectMembers["id"] ?? .null }
        let candidates = Array(Set(ids.compactMap(\.intValue)))
        let changesEmails = values.contains { $0.objectMembers["email"] != nil }
        let engine = self.database.engine
        return try await self.database.batchTransaction { sql in
            // The items are validated on another core while their rows are read.
            async let validated = Self.validatePatches(values)
            let current = try await Self.loadRows(ids: candidates, withEmails: changesEmails, engine: engine, sql: sql)
            let frozen = await validated
            let patches = frozen.compactMap { try? $0.get() }
            // Which user holds which email, as the batch goes: only when some item changes one.
            var emailOwner: [String: Int] = [:]
            var emailKeys: [Int: String] = [:]
            let requestedKeys = patches.compactMap { $0.changes.email.map(User.emailKey) }
            if !requestedKeys.isEmpty {
                emailOwner = try await Self.owners(of: requestedKeys, engine: engine, sql: sql)
                for row in current.values { if let key = row.emailKey { emailOwner[key] = row.id } }
                emailKeys = current.compactMapValues(\.emailKey)
            }
            var claimedInBatch: Set<String> = []
            var results: [ItemResult] = []
            results.reserveCapacity(frozen.count)
            var applied: [UserInput.Patch] = []
            applied.reserveCapacity(patches.count)
            for (index, outcome) in frozen.enumerated() {
                let patch: UserInput.Patch
                switch outcome {
                case .failure(let problem):
                    results.append(ItemResult(id: ids[index], problem: problem))
                    continue
                case .success(let value): patch = value
                }
                let id = JSONValue.int(patch.id)
                // Ids are unique among the patches by now, so each row is met once.
                guard let version = current[patch.id]?.version else {
                    results.append(ItemResult(id: id, problem: ProblemDetails(status: .notFound, detail: "no user with id \(patch.id)")))
                    continue
                }
                if let expected = patch.expectedVersion, expected != version {
                    results.append(
                        ItemResult(
                            id: id,
                            problem: ProblemDetails(
                                status: .preconditionFailed,
                                detail: "version \(expected) is not current; user \(patch.id) is at version \(version)",
                                extensions: ["currentVersion": .int(version)]
                            )
                        )
                    )
                    continue
                }
                if let email = patch.changes.email {
                    let key = User.emailKey(email)
                    if let owner = emailOwner[key], owner != patch.id {
                        let byBatch = claimedInBatch.contains(key)
                        results.append(
                            ItemResult(
                                id: id,
                                problem: ProblemDetails(
                                    status: .conflict,
                                    detail: byBatch
                                        ? "email \(email) is taken by another item of this batch" : "email \(email) is taken by user \(owner)",
                                    extensions: ["field": "email"]
                                )
                            )
                        )
                        continue
                    }
                    if let old = emailKeys[patch.id], old != key { emailOwner[old] = nil }
                    emailOwner[key] = patch.id
                    emailKeys[patch.id] = key
                    claimedInBatch.insert(key)
                }
                applied.append(patch)
                results.append(
                    ItemResult(id: id, status: .ok, message: "Updated", location: "/users/\(patch.id)", fields: ["version": .int(version + 1)]))
            }
            if atomic && results.contains(where: { !$0.succeeded }) { throw AtomicRollback(items: results) }
            let decided = results
            async let output = render(decided)
            try await Self.applyUpdates(applied, updatedAt: Timestamp.now(), engine: engine, sql: sql)
            return try await output
        } rolledBack: {
            try render($0)
        }
    }

    /// Each item read as a patch, or the problem that refuses it; an id's later occurrences are refused.
    private static func validatePatches(_ values: [JSONValue]) -> [Result<UserInput.Patch, ProblemDetails>] {
        var outcomes: [Result<UserInput.Patch, ProblemDetails>] = values.map { value in
            do throws(ProblemDetails) { return .success(try UserInput.patch(value)) } catch { return .failure(error) }
        }
        var seen: Set<Int> = []
        seen.reserveCapacity(outcomes.count)
        for index in outcomes.indices {
            guard case .success(let patch) = outcomes[index] else { continue }
            if !seen.insert(patch.id).inserted {
                outcomes[index] = .failure(
                    ProblemDetails(
                        status: .conflict, detail: "user \(patch.id) appears more than once in this batch; only its first occurrence is considered"))
            }
        }
        return outcomes
    }

    private struct Row {
        let id: Int
        /// Read only when the batch changes some email.
        let emailKey: String?
        let version: Int
    }

    private static func loadRows(ids: [Int], withEmails: Bool, engine: Database.Engine, sql: any SQLDatabase) async throws -> [Int: Row] {
        // PostgreSQL locks the rows until the transaction ends; SQLite's BEGIN IMMEDIATE already holds the write lock.
        let locking: SQLQueryString = engine == .postgres ? " FOR UPDATE OF users" : ""
        let columns = withEmails ? ["id", "version", "email_key"] : ["id", "version"]
        let rows = try await sql.jsonRows(
            """
            SELECT \(engine.jsonRows(of: columns)) FROM (
                SELECT users.id, users.version, users.email_key
                FROM (\(engine.integers(ofJSON: ids.jsonArray))) AS wanted JOIN users ON users.id = wanted.id\(locking)
            ) AS found
            """
        )
        var found: [Int: Row] = [:]
        found.reserveCapacity(rows.count)
        for row in rows {
            guard row.count == columns.count, let id = row[0].intValue, let version = row[1].intValue else {
                throw ProblemDetails.unexpectedDatabaseRow
            }
            var emailKey: String?
            if withEmails {
                guard let key = row[2].stringValue else { throw ProblemDetails.unexpectedDatabaseRow }
                emailKey = key
            }
            found[id] = Row(id: id, emailKey: emailKey, version: version)
        }
        return found
    }

    private static func owners(of keys: [String], engine: Database.Engine, sql: any SQLDatabase) async throws -> [String: Int] {
        guard !keys.isEmpty else { return [:] }
        var list = JSONBatchWriter()
        for key in Set(keys) {
            list.startObject()
            list.add("key", .string(key))
            list.endObject()
        }
        let rows = try await sql.jsonRows(
            """
            SELECT \(engine.jsonRows(of: ["id", "email_key"])) FROM users
            WHERE email_key IN (SELECT k.key FROM \(engine.rows(ofJSON: list.json, as: "k", columns: [("key", .text)])))
            """
        )
        var owners: [String: Int] = [:]
        for row in rows {
            guard row.count == 2, let id = row[0].intValue, let key = row[1].stringValue else { throw ProblemDetails.unexpectedDatabaseRow }
            owners[key] = id
        }
        return owners
    }

    /// One `UPDATE … FROM` for all validated patches, which travel as one JSON parameter. Only the
    /// columns some patch changes are assigned: assigning `email_key` its own value would still
    /// rewrite its unique index entry for every row.
    private static func applyUpdates(_ patches: [UserInput.Patch], updatedAt: String, engine: Database.Engine, sql: any SQLDatabase) async throws {
        guard !patches.isEmpty else { return }
        var batch = JSONBatchWriter()
        var changed: Set<String> = []
        for patch in patches {
            let changes = patch.changes
            if changes.name != nil { changed.insert("name") }
            if changes.email != nil { changed.formUnion(["email", "email_key"]) }
            if changes.role != nil { changed.insert("role") }
            batch.startObject()
            batch.add("id", .int(patch.id))
            changes.addMembers(to: &batch)
            batch.endObject()
        }
        let columns = ["name", "email", "email_key", "role"].filter(changed.contains)
        let rows = engine.rows(ofJSON: batch.json, as: "v", columns: [("id", .bigint)] + columns.map { ($0, .text) })
        let assignments = columns.map { "\($0) = COALESCE(v.\($0), users.\($0)), " }.joined()
        try await sql.raw(
            """
            UPDATE users SET \(unsafeRaw: assignments)version = users.version + 1, updated_at = \(bind: updatedAt)
            FROM \(rows) WHERE users.id = v.id
            """
        ).run()
    }

    // MARK: - Create

    /// `POST /users`: one outcome per item, in request order; created users get 201 and a location.
    func create(_ values: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        var outcomes: [Result<UserChanges, ProblemDetails>] = values.map { value in
            do throws(ProblemDetails) { return .success(try UserInput.create(value)) } catch { return .failure(error) }
        }
        var seenEmails: Set<String> = []
        for index in outcomes.indices {
            guard case .success(let changes) = outcomes[index], let email = changes.email else { continue }
            if !seenEmails.insert(User.emailKey(email)).inserted {
                outcomes[index] = .failure(
                    ProblemDetails(status: .conflict, detail: "email \(email) is taken by another item of this batch", extensions: ["field": "email"])
                )
            }
        }
        let frozen = outcomes
        let ids = values.map { value -> JSONValue in value.objectMembers["email"] ?? .null }
        let engine = self.database.engine
        return try await self.database.batchTransaction { sql in
            let taken = try await Self.owners(of: frozen.compactMap { (try? $0.get())?.email.map(User.emailKey) }, engine: engine, sql: sql)
            var results: [ItemResult?] = []
            var inserts: [(index: Int, changes: UserChanges)] = []
            for (index, outcome) in frozen.enumerated() {
                switch outcome {
                case .failure(let problem):
                    results.append(ItemResult(id: ids[index], problem: problem))
                case .success(let changes):
                    if let owner = taken[User.emailKey(changes.email!)] {
                        results.append(
                            ItemResult(
                                id: ids[index],
                                problem: ProblemDetails(
                                    status: .conflict, detail: "email \(changes.email!) is taken by user \(owner)", extensions: ["field": "email"]
                                ))
                        )
                    } else {
                        results.append(nil)
                        inserts.append((index, changes))
                    }
                }
            }
            if atomic && results.contains(where: { $0 != nil }) {
                throw AtomicRollback(items: results.enumerated().map { $1 ?? ItemResult(id: ids[$0], status: .created) })
            }
            let now = Timestamp.now()
            if !inserts.isEmpty {
                var batch = JSONBatchWriter()
                for insert in inserts {
                    batch.startObject()
                    insert.changes.addMembers(to: &batch)
                    batch.endObject()
                }
                let json = batch.json
                let columns: [(name: String, type: Database.Engine.JSONColumnType)] = [
                    ("name", .text), ("email", .text), ("email_key", .text), ("role", .text),
                ]
                try await sql.raw(
                    """
                    INSERT INTO users (name, email, email_key, role, version, created_at, updated_at)
                    SELECT v.name, v.email, v.email_key, v.role, 1, \(bind: now), \(bind: now) FROM \(engine.rows(ofJSON: json, as: "v", columns: columns))
                    """
                ).run()
                // The new ids, matched back by email (unique), in one folded row.
                let created = try await sql.jsonRows(
                    """
                    SELECT \(engine.jsonRows(of: ["id", "email_key"])) FROM users
                    WHERE email_key IN (SELECT v.email_key FROM \(engine.rows(ofJSON: json, as: "v", columns: [("email_key", .text)])))
                    """
                )
                var idsByKey: [String: Int] = [:]
                for row in created {
                    guard row.count == 2, let id = row[0].intValue, let key = row[1].stringValue else {
                        throw ProblemDetails.unexpectedDatabaseRow
                    }
                    idsByKey[key] = id
                }
                for insert in inserts {
                    let c = insert.changes
                    guard let id = idsByKey[User.emailKey(c.email!)] else { continue }
                    let user = User(id: id, name: c.name!, email: c.email!, role: c.role!, version: 1, createdAt: now, updatedAt: now)
                    results[insert.index] = ItemResult(
                        id: ids[insert.index], status: .created, location: user.location, fields: user.json.objectMembers)
                }
            }
            return results.enumerated().map {
                $1 ?? ItemResult(id: ids[$0], problem: ProblemDetails(status: .internalServerError, detail: "the row was not returned"))
            }
        }
    }

    // MARK: - Delete and read

    /// `DELETE /users`: 204 for each deleted id, 404 for each unknown one.
    func delete(_ values: [JSONValue], atomic: Bool) async throws -> [ItemResult] {
        let ids = values.map { value -> Int? in if case .int(let id) = value { id } else { nil } }
        let engine = self.database.engine
        return try await self.database.batchTransaction { sql in
            let valid = Array(Set(ids.compactMap { $0 })).jsonArray
            // Which of the ids exist, then one statement for all of them (rows folded into one, not returned one by one).
            let existing = try await sql.jsonRows(
                "SELECT \(engine.jsonRows(of: ["id"])) FROM users WHERE id IN (\(engine.integers(ofJSON: valid)))")
            var deleted: Set<Int> = []
            for row in existing {
                guard let id = row.first?.intValue else { throw ProblemDetails.unexpectedDatabaseRow }
                deleted.insert(id)
            }
            try await sql.raw("DELETE FROM users WHERE id IN (\(engine.integers(ofJSON: valid)))").run()
            var results: [ItemResult] = []
            for (index, id) in ids.enumerated() {
                guard let id else {
                    results.append(
                        ItemResult(id: values[index], problem: ProblemDetails(status: .badRequest, detail: "an id must be an integer")))
                    continue
                }
                if deleted.remove(id) != nil {
                    results.append(ItemResult(id: .int(id), status: .noContent, message: "Deleted"))
                } else {
                    results.append(ItemResult(id: .int(id), problem: ProblemDetails(status: .notFound, detail: "no user with id \(id)")))
                }
            }
            if atomic && results.contains(where: { !$0.succeeded }) { throw AtomicRollback(items: results) }
            return results
        }
    }

    /// `GET /users?ids=…`: 200 with the record, or 404, per id.
    func read(_ texts: [Substring]) async throws -> [ItemResult] {
        let ids = texts.map { Int($0.trimmingCharacters(in: .whitespaces)) }
        let users = try await self.find(ids: Array(Set(ids.compactMap { $0 })))
        return zip(texts, ids).map { text, id in
            guard let id else {
                return ItemResult(id: .string(String(text)), problem: ProblemDetails(status: .badRequest, detail: "\"\(text)\" is not an integer id"))
            }
            guard let user = users[id] else {
                return ItemResult(id: .int(id), problem: ProblemDetails(status: .notFound, detail: "no user with id \(id)"))
            }
            return ItemResult(id: .int(id), status: .ok, location: user.location, fields: user.fields)
        }
    }

    func find(ids: [Int]) async throws -> [Int: User] {
        let engine = self.database.engine
        let columns = ["id", "name", "email", "role", "version", "created_at", "updated_at"]
        return try await self.database.withReader { sql in
            let rows = try await sql.jsonRows(
                """
                SELECT \(engine.jsonRows(of: columns)) FROM (
                    SELECT users.* FROM (\(engine.integers(ofJSON: ids.jsonArray))) AS wanted JOIN users ON users.id = wanted.id
                ) AS found
                """
            )
            var users: [Int: User] = [:]
            for row in rows {
                guard row.count == columns.count, let id = row[0].intValue, let name = row[1].stringValue, let email = row[2].stringValue,
                    let role = row[3].stringValue, let version = row[4].intValue, let createdAt = row[5].stringValue,
                    let updatedAt = row[6].stringValue
                else { throw ProblemDetails.unexpectedDatabaseRow }
                users[id] = User(
                    id: id, name: name, email: email, role: User.Role(rawValue: role) ?? .viewer, version: version,
                    createdAt: createdAt, updatedAt: updatedAt
                )
            }
            return users
        }
    }
}

extension Array where Element == Int {
    /// The integers as a JSON array, for a batch parameter.
    var jsonArray: String { "[" + self.map(String.init).joined(separator: ",") + "]" }
}
