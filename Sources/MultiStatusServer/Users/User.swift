import MultiStatus

/// A user record as stored and as answered.
struct User: Sendable, Hashable {
    var id: Int
    var name: String
    var email: String
    var role: Role
    var version: Int
    var createdAt: String
    var updatedAt: String

    enum Role: String, Sendable, CaseIterable {
        case admin, member, viewer
    }

    /// The record as item fields (`id` is the item's identifier).
    var fields: [String: JSONValue] {
        [
            "name": .string(self.name), "email": .string(self.email), "role": .string(self.role.rawValue),
            "version": .int(self.version), "createdAt": .string(self.createdAt), "updatedAt": .string(self.updatedAt),
        ]
    }

    /// The record as a JSON object.
    var json: JSONValue {
        var members = self.fields
        members["id"] = .int(self.id)
        return .object(members)
    }

    var location: String { "/users/\(self.id)" }

    /// Emails are unique compared case-insensitively.
    static func emailKey(_ email: String) -> String { email.lowercased() }
}

/// The fields a create or update may set, already validated.
struct UserChanges: Sendable, Hashable {
    var name: String?
    var email: String?
    var role: User.Role?

    /// Adds the changed fields, and the email's unique key, to the batch row being written.
    func addMembers(to batch: inout JSONBatchWriter) {
        batch.add("name", self.name.map(JSONValue.string))
        batch.add("email", self.email.map(JSONValue.string))
        batch.add("email_key", self.email.map { .string(User.emailKey($0)) })
        batch.add("role", self.role.map { .string($0.rawValue) })
    }
}

/// Reading request items for `/users`, with the precise error each wrong item gets.
enum UserInput {
    static let writableFields: Set<String> = ["name", "email", "role"]
    /// Members of a patch that are not changes: which user, and the version it expects.
    static let patchControlFields: Set<String> = ["id", "version"]

    /// A `PATCH /users` item: `{"id": 1, "name": "Alice", "version": 3}`.
    struct Patch: Sendable {
        var id: Int
        var changes: UserChanges
        var expectedVersion: Int?
    }

    static func patch(_ value: JSONValue) throws(ProblemDetails) -> Patch {
        guard case .object(let members) = value else { throw ProblemDetails(status: .badRequest, detail: "an update must be a JSON object") }
        guard let idValue = members["id"] else { throw ProblemDetails(status: .badRequest, detail: "\"id\" is missing") }
        guard case .int(let id) = idValue else { throw ProblemDetails(status: .badRequest, detail: "\"id\" must be an integer") }
        var expectedVersion: Int?
        switch members["version"] {
        case nil: break
        case .int(let version)?: expectedVersion = version
        default: throw ProblemDetails(status: .badRequest, detail: "\"version\" must be an integer")
        }
        let changes = try self.changes(members, ignoring: Self.patchControlFields)
        if changes == UserChanges() {
            throw ProblemDetails(status: .unprocessableContent, detail: "the update changes nothing; give name, email or role")
        }
        return Patch(id: id, changes: changes, expectedVersion: expectedVersion)
    }

    /// A `POST /users` item: `{"name": "Alice", "email": "a@example.com", "role": "member"}` (role defaults to member).
    static func create(_ value: JSONValue) throws(ProblemDetails) -> UserChanges {
        guard case .object(let members) = value else { throw ProblemDetails(status: .badRequest, detail: "a new user must be a JSON object") }
        var changes = try self.changes(members, ignoring: [])
        guard changes.name != nil else {
            throw ProblemDetails(status: .unprocessableContent, detail: "\"name\" is required", extensions: ["field": "name"])
        }
        guard changes.email != nil else {
            throw ProblemDetails(status: .unprocessableContent, detail: "\"email\" is required", extensions: ["field": "email"])
        }
        changes.role = changes.role ?? .member
        return changes
    }

    private static func changes(_ members: [String: JSONValue], ignoring: Set<String>) throws(ProblemDetails) -> UserChanges {
        var unknown: [String] = []
        for key in members.keys where !self.writableFields.contains(key) && !ignoring.contains(key) { unknown.append(key) }
        if !unknown.isEmpty {
            unknown.sort()
            throw ProblemDetails(
                status: .unprocessableContent,
                detail:
                    "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); writable: name, email, role",
                extensions: ["field": .string(unknown[0])]
            )
        }
        var changes = UserChanges()
        for key in ["name", "email", "role"] {
            guard let value = members[key] else { continue }
            guard case .string(let text) = value else {
                throw ProblemDetails(status: .badRequest, detail: "\"\(key)\" must be a string", extensions: ["field": .string(key)])
            }
            switch key {
            case "name":
                // Most names are ASCII: characters are bytes then, and the checks need no grapheme breaking.
                let ascii = text.utf8.allSatisfy { $0 < 0x80 }
                let count = ascii ? text.utf8.count : text.count
                let blank = ascii ? text.utf8.allSatisfy { $0 == 0x20 || (0x09...0x0D).contains($0) } : text.allSatisfy(\.isWhitespace)
                guard (1...200).contains(count), !blank else {
                    throw ProblemDetails(
                        status: .unprocessableContent, detail: "\"name\" must be 1 to 200 characters, not only spaces", extensions: ["field": "name"])
                }
                guard !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                    throw ProblemDetails(
                        status: .unprocessableContent, detail: "\"name\" must not contain control characters", extensions: ["field": "name"])
                }
                changes.name = text
            case "email":
                guard self.isValidEmail(text) else {
                    throw ProblemDetails(
                        status: .unprocessableContent, detail: "\"email\" is not a valid address: \(text.prefix(100))", extensions: ["field": "email"]
                    )
                }
                changes.email = text
            default:
                guard let role = User.Role(rawValue: text) else {
                    throw ProblemDetails(
                        status: .unprocessableContent, detail: "\"role\" must be admin, member or viewer, not \(text.prefix(50))",
                        extensions: ["field": "role"])
                }
                changes.role = role
            }
        }
        return changes
    }

    /// A practical address check: one `@`, a non-empty local part, a dotted domain, no spaces or controls, at most 254 bytes.
    static func isValidEmail(_ text: String) -> Bool {
        guard text.utf8.count <= 254 else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let local = parts.first, let domain = parts.last, !local.isEmpty, local.utf8.count <= 64 else { return false }
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || "<>()[],;:\\\"".unicodeScalars.contains($0) }) else {
            return false
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}
