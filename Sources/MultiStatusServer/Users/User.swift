import MultiStatus

/// What is special about a user record: its fields as a request gives them, their rules, and an
/// email that is unique compared case-insensitively (the `email_key` column).
enum User {
    enum Role: String, Sendable, CaseIterable {
        case admin, member, viewer
    }

    /// The members a request item may give, in the order ``JSONRecords`` reads them.
    static let members = JSONRecords.Names(["id", "version", "name", "email", "role"])
    /// Positions in ``members``.
    static let id = 0, version = 1, name = 2, email = 3, role = 4
    /// The members a request may set.
    static let writable = ["name", "email", "role"]

    /// Emails are unique compared case-insensitively.
    static func emailKey(_ email: String) -> String { email.lowercased() }

    /// The fields a create or update sets, each checked.
    struct Changes: Sendable, Equatable {
        var name: String?
        var email: String?
        var role: Role?
    }

    /// The changes an item gives, read from its `values` (by position in ``members``); `unknown`
    /// are the members it gives that are not fields, with `ignoring` (the id and version of an
    /// update) taken as known.
    /// - Throws: 422 for an unknown field or a value a field does not take, 400 for one that is not a string.
    static func changes(_ values: [JSONValue?], unknown: [String], ignoring: Set<Int>) throws(ProblemDetails) -> Changes {
        var unknown = unknown
        for position in [Self.id, Self.version] where values[position] != nil && !ignoring.contains(position) {
            unknown.append(Self.members.names[position])
        }
        if !unknown.isEmpty {
            unknown.sort()
            throw ProblemDetails(
                status: .unprocessableContent,
                detail:
                    "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); writable: name, email, role",
                extensions: ["field": .string(unknown[0])]
            )
        }
        var changes = Changes()
        for position in [Self.name, Self.email, Self.role] {
            guard let value = values[position] else { continue }
            let key = Self.members.names[position]
            guard case .string(let text) = value else {
                throw ProblemDetails(status: .badRequest, detail: "\"\(key)\" must be a string", extensions: ["field": .string(key)])
            }
            switch position {
            case Self.name:
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
            case Self.email:
                guard self.isValidEmail(text) else {
                    throw ProblemDetails(
                        status: .unprocessableContent, detail: "\"email\" is not a valid address: \(text.prefix(100))", extensions: ["field": "email"]
                    )
                }
                changes.email = text
            default:
                guard let role = Role(rawValue: text) else {
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
