import MultiStatus

/// The server's `users` table as ``TableStore`` serves it under `/users`: which column each field
/// is, read once at start.
struct UserTable: Sendable {
    let schema: TableSchema
    fileprivate let name, email, emailKey, role, createdAt, updatedAt: Int

    /// The table as the server's migration made it.
    /// - Throws: ``ConfigurationError`` when a column of it is missing.
    init(schema: TableSchema) throws {
        func column(_ name: String) throws -> Int {
            guard let index = schema.column(named: name) else { throw ConfigurationError("the users table has no column \(name)") }
            return index
        }
        self.schema = schema
        (self.name, self.email, self.emailKey, self.role) = (try column("name"), try column("email"), try column("email_key"), try column("role"))
        (self.createdAt, self.updatedAt) = (try column("created_at"), try column("updated_at"))
    }

    /// How the table serves the items of one request, which write `now` as their time.
    func items(now: String) -> UserItems { UserItems(table: self, now: now) }

    /// The stored row `row` (every column, as the database folded it) as a user record:
    /// `id`, `name`, `email`, `role`, `version`, `createdAt`, `updatedAt`.
    func record(_ row: JSONValue) -> [String: JSONValue] {
        var members = row.objectMembers
        if case .raw(let text) = row, case .object(let parsed)? = try? JSONValue.parse(text.utf8) { members = parsed }
        return [
            "id": members["id"] ?? .null, "name": members["name"] ?? .null, "email": members["email"] ?? .null, "role": members["role"] ?? .null,
            "version": members["version"] ?? .null, "createdAt": members["created_at"] ?? .null, "updatedAt": members["updated_at"] ?? .null,
        ]
    }
}

/// A user's items: read by the user fields' rules (``User/changes(_:unknown:ignoring:)``), written
/// with the email's key and the batch's time, identified by id (by email when created), and
/// answered with the record, as `/users` always has.
struct UserItems: TableItems {
    let table: UserTable
    /// What the batch writes as `created_at` and `updated_at`.
    let now: String

    var schema: TableSchema { self.table.schema }
    var names: JSONRecords.Names { User.members }

    func insert(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Values {
        guard case .object(let values, let unknown) = item else {
            throw ProblemDetails(status: .badRequest, detail: "a new user must be a JSON object")
        }
        let changes = try User.changes(values, unknown: unknown, ignoring: [])
        guard changes.name != nil else {
            throw ProblemDetails(status: .unprocessableContent, detail: "\"name\" is required", extensions: ["field": "name"])
        }
        guard changes.email != nil else {
            throw ProblemDetails(status: .unprocessableContent, detail: "\"email\" is required", extensions: ["field": "email"])
        }
        var row = self.values(changes)
        if changes.role == nil { row.set(self.table.role, .string(User.Role.member.rawValue)) }
        row.set(self.table.createdAt, .string(self.now))
        return row
    }

    func update(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Keyed {
        guard case .object(let values, let unknown) = item else {
            throw ProblemDetails(status: .badRequest, detail: "an update must be a JSON object")
        }
        guard let given = values[User.id] else { throw ProblemDetails(status: .badRequest, detail: "\"id\" is missing") }
        guard case .int(let id) = given else { throw ProblemDetails(status: .badRequest, detail: "\"id\" must be an integer") }
        var expected: Int?
        switch values[User.version] {
        case nil: break
        case .int(let version)?: expected = version
        default: throw ProblemDetails(status: .badRequest, detail: "\"version\" must be an integer")
        }
        let changes = try User.changes(values, unknown: unknown, ignoring: [User.id, User.version])
        guard changes != User.Changes() else {
            throw ProblemDetails(status: .unprocessableContent, detail: "the update changes nothing; give name, email or role")
        }
        return TableInput.Keyed(key: [.int(id)], values: self.values(changes), expectedVersion: expected)
    }

    /// The columns `changes` sets, with the email's key and the update time.
    private func values(_ changes: User.Changes) -> TableInput.Values {
        var values = TableInput.Values()
        if let name = changes.name { values.set(self.table.name, .string(name)) }
        if let email = changes.email {
            values.set(self.table.email, .string(email))
            values.set(self.table.emailKey, .string(User.emailKey(email)))
        }
        if let role = changes.role { values.set(self.table.role, .string(role.rawValue)) }
        values.set(self.table.updatedAt, .string(self.now))
        return values
    }

    func upsert(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Keyed {
        throw ProblemDetails(status: .methodNotAllowed, detail: "users are created with POST and changed with PATCH")
    }

    func requireMissing(_ values: TableInput.Values) throws(ProblemDetails) {}

    func key(_ item: JSONValue) throws(ProblemDetails) -> [JSONValue] {
        guard case .int = item else { throw ProblemDetails(status: .badRequest, detail: "an id must be an integer") }
        return [item]
    }

    func key(parts: [String]) throws(ProblemDetails) -> [JSONValue] {
        let text = parts.joined(separator: ",")
        guard let id = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ProblemDetails(status: .badRequest, detail: "\"\(text)\" is not an integer id")
        }
        return [.int(id)]
    }

    func identifier(key: [JSONValue]?, values: TableInput.Values, inserting: Bool) -> JSONValue {
        inserting ? values[self.table.email] ?? .null : key?.first ?? .null
    }

    func givenIdentifier(_ item: JSONRecords.Element, inserting: Bool) -> JSONValue {
        guard case .object(let values, _) = item else { return .null }
        return values[inserting ? User.email : User.id] ?? .null
    }

    func location(_ key: [JSONValue]) -> String { "/users/" + TableKey.text(key) }

    func fields(version: Int?, row: JSONValue?) -> [String: JSONValue] {
        guard let row else { return version.map { ["version": .int($0)] } ?? [:] }
        return self.table.record(row)
    }

    func notFound(_ key: [JSONValue]) -> ProblemDetails {
        ProblemDetails(status: .notFound, detail: "no user with id \(key.first?.jsonText ?? "")")
    }

    func repeated(_ key: [JSONValue]) -> ProblemDetails {
        ProblemDetails(
            status: .conflict,
            detail: "user \(key.first?.jsonText ?? "") appears more than once in this batch; only its first occurrence is considered")
    }

    func taken(_ unique: UniqueConstraint, values: TableInput.Values, holder: [JSONValue]?, byBatch: Bool) -> ProblemDetails {
        guard unique.columns == [self.table.emailKey], case .string(let email)? = values[self.table.email] else {
            return TableViolation.unique(unique, named: unique.name, schema: self.schema, detail: "", byBatch: byBatch)
        }
        let who = byBatch ? "another item of this batch" : holder.map { "user \($0.first?.jsonText ?? "")" } ?? "another user"
        return ProblemDetails(status: .conflict, detail: "email \(email) is taken by \(who)", extensions: ["field": "email"])
    }
}
