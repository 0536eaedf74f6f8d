import MultiStatus

/// How the items of a served table are read and answered: what an item may give, the values
/// written for it, and the words and identifiers of its outcome. ``TableStore`` decides and
/// writes set-based whatever the table; this is all that differs from one table to another.
///
/// ``TableInput`` reads any table from its schema alone. A table with rules of its own (`/users`:
/// its fields, its email key, its timestamps) gives them here.
protocol TableItems: Sendable {
    /// The table, as the database describes it.
    var schema: TableSchema { get }
    /// The member names request items are read against (``JSONRecords``).
    var names: JSONRecords.Names { get }

    /// A `POST` item: the values of the new row, by column.
    func insert(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Values
    /// A `PATCH` item: its key, its changes and the version it expects.
    func update(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Keyed
    /// A `PUT` item: a whole row by its key.
    func upsert(_ item: JSONRecords.Element) throws(ProblemDetails) -> TableInput.Keyed
    /// 422 when `values`, an upsert's row for a key no row has, leaves out a column an insert needs.
    func requireMissing(_ values: TableInput.Values) throws(ProblemDetails)
    /// A `DELETE` item: a key.
    func key(_ item: JSONValue) throws(ProblemDetails) -> [JSONValue]
    /// A key from a URL: its parts, as text.
    func key(parts: [String]) throws(ProblemDetails) -> [JSONValue]

    /// What an item is answered under: its key (`nil` for an insert whose key the database makes,
    /// until it is made), or what it gave, `values`, when the table names its inserts otherwise.
    func identifier(key: [JSONValue]?, values: TableInput.Values, inserting: Bool) -> JSONValue
    /// What an item refused before it was read is answered under.
    func givenIdentifier(_ item: JSONRecords.Element, inserting: Bool) -> JSONValue
    /// The URL path of the row with `key`.
    func location(_ key: [JSONValue]) -> String
    /// The fields of a written or read row's item: its version, and its stored row when given.
    func fields(version: Int?, row: JSONValue?) -> [String: JSONValue]

    /// 404 for a key no row has.
    func notFound(_ key: [JSONValue]) -> ProblemDetails
    /// 409 for a key an earlier item of the batch gives.
    func repeated(_ key: [JSONValue]) -> ProblemDetails
    /// 409 for `values` taking `unique`'s value from another row (or an earlier item of the batch
    /// when `byBatch`); `holder` is the other row's key when it is known.
    func taken(_ unique: UniqueConstraint, values: TableInput.Values, holder: [JSONValue]?, byBatch: Bool) -> ProblemDetails
}

extension TableInput: TableItems {
    func identifier(key: [JSONValue]?, values: TableInput.Values, inserting: Bool) -> JSONValue {
        key.map(self.identifier) ?? .null
    }

    func location(_ key: [JSONValue]) -> String { self.schema.location(key) }

    func fields(version: Int?, row: JSONValue?) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        if let row { fields["row"] = row }
        if let version { fields["version"] = .int(version) }
        return fields
    }

    func notFound(_ key: [JSONValue]) -> ProblemDetails {
        ProblemDetails(status: .notFound, detail: "table \(self.schema.name) has no row with key \(TableKey.text(key))")
    }

    func repeated(_ key: [JSONValue]) -> ProblemDetails {
        ProblemDetails(
            status: .conflict, detail: "key \(TableKey.text(key)) appears more than once in this batch; only its first occurrence is applied")
    }

    func taken(_ unique: UniqueConstraint, values: TableInput.Values, holder: [JSONValue]?, byBatch: Bool) -> ProblemDetails {
        TableViolation.unique(unique, named: unique.name, schema: self.schema, detail: "", byBatch: byBatch)
    }
}
