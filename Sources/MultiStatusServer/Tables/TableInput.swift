import MultiStatus

/// Reading request items against a table's schema: each value of the JSON type its column takes,
/// with the precise problem a wrong item gets (400 wrong type or missing key, 422 NULL or
/// unknown column, 403 a column the request may not set). Nothing here touches the database.
struct TableInput: Sendable {
    let schema: TableSchema
    /// Why a request may not set each column: `nil` when it may.
    private let refusals: [String?]
    /// What each column is to an item that names its row by key (`PATCH`, `PUT`).
    private let keyedRoles: [Member]
    /// The table's columns, which request items are read against.
    let names: JSONRecords.Names

    init(schema: TableSchema) {
        self.schema = schema
        let readOnly = Set(schema.options.readOnly.compactMap(schema.column(named:)))
        self.refusals = schema.columns.indices.map { column in
            if schema.columns[column].generated { return "is computed by the database and cannot be set" }
            if readOnly.contains(column) { return "is read-only" }
            if column == schema.version { return "is the version, counted by the server" }
            return nil
        }
        self.names = JSONRecords.Names(schema.columns.map(\.name))
        self.keyedRoles = schema.columns.indices.map { column in
            column == schema.version ? .version : schema.key.contains(column) ? .key : .value
        }
    }

    /// Values by column index, in column order.
    struct Values: Sendable {
        var columns: [Int] = []
        var values: [JSONValue] = []

        init() {}

        /// The values of `members`, which are in column order.
        init(_ members: [(column: Int, value: JSONValue)]) {
            self.columns = members.map(\.column)
            self.values = members.map(\.value)
        }

        subscript(column: Int) -> JSONValue? {
            guard let position = self.columns.firstIndex(of: column) else { return nil }
            return self.values[position]
        }

        mutating func set(_ column: Int, _ value: JSONValue) {
            // Items are read in column order, so a value mostly goes at the end.
            if self.columns.last.map({ $0 < column }) ?? true {
                self.columns.append(column)
                self.values.append(value)
            } else if let position = self.columns.firstIndex(of: column) {
                self.values[position] = value
            } else {
                let position = self.columns.firstIndex(where: { $0 > column }) ?? self.columns.endIndex
                self.columns.insert(column, at: position)
                self.values.insert(value, at: position)
            }
        }
    }

    /// What a column is to an item: part of its key, the version it expects, or a value.
    private enum Member {
        case key, version, value
    }

    /// The members of an item, read against the table's columns (``names``), in column order:
    /// each value checked against its column (a key's too; the version is left as given), then a
    /// refusal of any member that names no column (the first by name, so that an item with several
    /// faults always gets the same problem). `keyed` says that the item names its row by key, so
    /// that key and version columns are not values to set.
    private func read(_ item: JSONRecords.Element, _ what: String, keyed: Bool) throws(ProblemDetails) -> [(column: Int, value: JSONValue)] {
        guard case .object(let values, let unknown) = item else { throw ProblemDetails(status: .badRequest, detail: "\(what) must be a JSON object") }
        var known: [(column: Int, value: JSONValue)] = []
        known.reserveCapacity(values.count)
        for (column, given) in values.enumerated() {
            guard let given else { continue }
            let member = keyed ? self.keyedRoles[column] : .value
            if member == .value, let refusal = self.refusals[column] {
                let name = self.schema.columns[column].name
                throw ProblemDetails(status: .forbidden, detail: "column \(name) \(refusal)", extensions: ["column": .string(name)])
            }
            known.append((column, member == .version ? given : try self.value(given, column)))
        }
        guard let first = unknown.min() else { return known }
        throw ProblemDetails(
            status: .unprocessableContent, detail: "table \(self.schema.name) has no column \(first.prefix(100))",
            extensions: ["column": .string(String(first.prefix(100)))])
    }

    /// A `POST` item: a new row.
    func insert(_ item: JSONRecords.Element) throws(ProblemDetails) -> Values {
        let values = Values(try self.read(item, "a new row", keyed: false))
        try self.requireKey(values, generatedAllowed: true)
        try self.requireMissing(values)
        return values
    }

    /// An item that names its row by key: what it writes there, and the version it expects.
    struct Keyed: Sendable {
        var key: [JSONValue]
        /// An update's changes; an upsert's whole row, key included.
        var values: Values
        var expectedVersion: Int?
    }

    /// A `PATCH` item: the key, the changes, and the version it expects.
    func update(_ item: JSONRecords.Element) throws(ProblemDetails) -> Keyed {
        let members = try self.read(item, "an update", keyed: true)
        var changes = Values()
        changes.columns.reserveCapacity(members.count)
        changes.values.reserveCapacity(members.count)
        var expected: Int?
        for (column, value) in members {
            switch self.keyedRoles[column] {
            case .version: expected = try self.expectedVersion(value)
            case .key: break
            case .value:
                changes.columns.append(column)
                changes.values.append(value)
            }
        }
        let key = try self.key(of: members)
        guard !changes.columns.isEmpty else {
            throw ProblemDetails(status: .unprocessableContent, detail: "the update changes nothing; give a column besides the key")
        }
        return Keyed(key: key, values: changes, expectedVersion: expected)
    }

    /// A `PUT` item: a whole row by its key, inserted or changed.
    func upsert(_ item: JSONRecords.Element) throws(ProblemDetails) -> Keyed {
        var members = try self.read(item, "a row", keyed: true)
        var expected: Int?
        if let version = self.schema.version, let position = members.firstIndex(where: { $0.column == version }) {
            expected = try self.expectedVersion(members.remove(at: position).value)
        }
        let key = try self.key(of: members)
        return Keyed(key: key, values: Values(members), expectedVersion: expected)
    }

    /// The key columns' values among `members`, in key order.
    /// - Throws: 400 for a key column missing or null.
    private func key(of members: [(column: Int, value: JSONValue)]) throws(ProblemDetails) -> [JSONValue] {
        try self.key { column in members.first { $0.column == column }?.value }
    }

    /// The key columns' values, each found by `value`, in key order.
    /// - Throws: 400 for a key column missing or null.
    private func key(_ value: (Int) -> JSONValue?) throws(ProblemDetails) -> [JSONValue] {
        var key: [JSONValue] = []
        key.reserveCapacity(self.schema.key.count)
        for column in self.schema.key {
            guard let value = value(column) else {
                throw ProblemDetails(
                    status: .badRequest, detail: "key column \(self.schema.columns[column].name) is missing",
                    extensions: ["column": .string(self.schema.columns[column].name)])
            }
            if value == .null {
                throw ProblemDetails(
                    status: .badRequest, detail: "key column \(self.schema.columns[column].name) is null",
                    extensions: ["column": .string(self.schema.columns[column].name)])
            }
            key.append(value)
        }
        return key
    }

    /// The NOT NULL columns without a default that `values` leaves out: 422 for an insert.
    func requireMissing(_ values: Values) throws(ProblemDetails) {
        for (index, column) in self.schema.columns.enumerated()
        where column.notNull && !column.hasDefault && !column.generated && index != self.schema.version && values[index] == nil {
            throw ProblemDetails(
                status: .unprocessableContent, detail: "column \(column.name) is NOT NULL and has no default; give it",
                extensions: ["column": .string(column.name)])
        }
    }

    /// A `DELETE` item: a key, as its value (one key column) or an object of its columns.
    func key(_ item: JSONValue) throws(ProblemDetails) -> [JSONValue] {
        if case .object(let members) = item {
            var key = Values()
            for (name, value) in members {
                guard let column = self.schema.column(named: name), self.schema.key.contains(column) else {
                    throw ProblemDetails(
                        status: .badRequest, detail: "\(name) is not a key column; the key is \(self.keyNames)", extensions: ["column": .string(name)]
                    )
                }
                key.set(column, try self.value(value, column))
            }
            return try self.key { key[$0] }
        }
        guard self.schema.key.count == 1 else {
            throw ProblemDetails(status: .badRequest, detail: "the key has several columns; give each key as an object of \(self.keyNames)")
        }
        return [try self.value(item, self.schema.key[0])]
    }

    /// A key from the URL: its parts, as text, in key order.
    func key(parts: [String]) throws(ProblemDetails) -> [JSONValue] {
        guard parts.count == self.schema.key.count else {
            throw ProblemDetails(
                status: .badRequest, detail: "a key of table \(self.schema.name) has \(self.schema.key.count) part(s): \(self.keyNames)")
        }
        var key: [JSONValue] = []
        for (text, column) in zip(parts, self.schema.key) {
            let value: JSONValue
            switch self.schema.columns[column].type {
            case .integer:
                guard let number = Int(text) else { throw self.wrongType(column) }
                value = .int(number)
            case .boolean:
                guard text == "true" || text == "false" else { throw self.wrongType(column) }
                value = .bool(text == "true")
            case .real, .numeric:
                guard let number = Double(text) else { throw self.wrongType(column) }
                value = Int(text).map(JSONValue.int) ?? .double(number)
            default: value = .string(text)
            }
            key.append(try self.value(value, column))
        }
        return key
    }

    /// The key columns' names, for messages.
    var keyNames: String { self.schema.key.map { self.schema.columns[$0].name }.joined(separator: ", ") }

    /// The item's id in the report: the key's value, or an object of its columns for a composite key.
    func identifier(_ key: [JSONValue]) -> JSONValue {
        guard self.schema.key.count > 1 else { return key.first ?? .null }
        return .object(Dictionary(uniqueKeysWithValues: zip(self.schema.key.map { self.schema.columns[$0].name }, key)))
    }

    /// The id an item gave, whatever its shape, for an item refused before its key was read.
    func givenIdentifier(_ item: JSONRecords.Element, inserting: Bool = false) -> JSONValue {
        guard case .object(let values, _) = item else { return .null }
        let parts = self.schema.key.compactMap { values[$0] }
        guard parts.count == self.schema.key.count else { return .null }
        return self.identifier(parts)
    }

    // MARK: - Values

    private func expectedVersion(_ value: JSONValue) throws(ProblemDetails) -> Int {
        guard case .int(let version) = value else {
            throw ProblemDetails(status: .badRequest, detail: "the version must be an integer", extensions: ["column": .string(self.versionName)])
        }
        return version
    }

    private var versionName: String { self.schema.version.map { self.schema.columns[$0].name } ?? "" }

    private func requireKey(_ values: Values, generatedAllowed: Bool) throws(ProblemDetails) {
        if generatedAllowed && self.schema.keyIsGenerated { return }
        _ = try self.key { values[$0] }
    }

    /// `value` checked against the column's type, NULL and length.
    func value(_ value: JSONValue, _ column: Int) throws(ProblemDetails) -> JSONValue {
        let description = self.schema.columns[column]
        if value == .null {
            guard !description.notNull else {
                throw ProblemDetails(
                    status: .unprocessableContent, detail: "column \(description.name) is NOT NULL", extensions: ["column": .string(description.name)]
                )
            }
            return value
        }
        switch (description.type, value) {
        case (.integer(let range), .int(let number)):
            guard range.contains(number) else {
                throw ProblemDetails(
                    status: .badRequest, detail: "\(number) is out of range for column \(description.name): \(description.type.expected)",
                    extensions: ["column": .string(description.name)])
            }
        case (.real, .int), (.real, .double), (.numeric, .int), (.numeric, .double), (.boolean, .bool), (.json, _):
            break
        case (.numeric, .string(let text)):
            guard Double(text) != nil else { throw self.wrongType(column) }
        case (.text, .string(let text)), (.other, .string(let text)):
            // PostgreSQL counts characters as code points.
            if let limit = description.maxLength, text.unicodeScalars.count > limit {
                throw ProblemDetails(
                    status: .unprocessableContent, detail: "column \(description.name) holds at most \(limit) characters",
                    extensions: ["column": .string(description.name), "limit": .int(limit)])
            }
        case (.any, .string), (.any, .int), (.any, .double), (.any, .bool):
            break
        default:
            throw self.wrongType(column)
        }
        return value
    }

    private func wrongType(_ column: Int) -> ProblemDetails {
        let description = self.schema.columns[column]
        return ProblemDetails(
            status: .badRequest, detail: "column \(description.name) takes \(description.type.expected)",
            extensions: ["column": .string(description.name)])
    }
}
