import Foundation

/// The OpenAPI 3.1 document served at `GET /openapi.json`: the resource shipped with the server,
/// plus the endpoints and row schema of each served table, made from its introspected columns.
enum OpenAPIDocument {
    static func data(tables: [TableSchema] = []) throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        let shipped = try Data(contentsOf: url)
        guard !tables.isEmpty, var document = try JSONSerialization.jsonObject(with: shipped) as? [String: Any],
            var paths = document["paths"] as? [String: Any], var components = document["components"] as? [String: Any],
            var schemas = components["schemas"] as? [String: Any]
        else { return shipped }
        for table in tables.sorted(by: { $0.name < $1.name }) {
            let row = "Row_\(table.name)"
            schemas[row] = self.rowSchema(table)
            paths["/tables/\(TableKey.encodePart(table.name))"] = self.collectionPaths(table, row: row)
            paths["/tables/\(TableKey.encodePart(table.name))/{key}"] = [
                "get": [
                    "summary": "Read one row of \(table.name)", "operationId": "read_\(table.name)_row",
                    "parameters": [
                        [
                            "name": "key", "in": "path", "required": true, "schema": ["type": "string"],
                            "description": "the key's parts in key order (\(self.keyNames(table))), separated by commas, each percent-encoded",
                        ]
                    ],
                    "responses": [
                        "200": ["description": "the row", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(row)"]]]],
                        "400": self.problem("a key of the wrong type"), "401": ["$ref": "#/components/responses/Unauthorized"],
                        "404": self.problem("no such row, or a table the account may not read"),
                    ],
                ] as [String: Any]
            ]
        }
        components["schemas"] = schemas
        document["components"] = components
        document["paths"] = paths
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
    }

    private static func keyNames(_ table: TableSchema) -> String { table.key.map { table.columns[$0].name }.joined(separator: ", ") }

    private static func problem(_ description: String) -> [String: Any] {
        ["description": description, "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]]]
    }

    /// The JSON Schema of a row: each column's JSON type, NULL where the column allows it.
    private static func rowSchema(_ table: TableSchema) -> [String: Any] {
        var properties: [String: Any] = [:]
        for column in table.columns {
            var schema: [String: Any]
            switch column.type {
            case .integer(let range): schema = ["type": ["integer"], "minimum": range.lowerBound, "maximum": range.upperBound]
            case .real: schema = ["type": ["number"]]
            case .numeric: schema = ["type": ["number", "string"]]
            case .boolean: schema = ["type": ["boolean"]]
            case .text: schema = ["type": ["string"]]
            case .json: schema = [:]
            case .any: schema = ["type": ["string", "number", "boolean"]]
            case .other(let name): schema = ["type": ["string"], "description": "read by the database as \(name)"]
            }
            if let limit = column.maxLength { schema["maxLength"] = limit }
            if !column.notNull, var types = schema["type"] as? [String] {
                types.append("null")
                schema["type"] = types
            }
            if column.generated || table.options.readOnly.contains(column.name) { schema["readOnly"] = true }
            properties[column.name] = schema
        }
        return ["type": "object", "properties": properties, "description": "a row of table \(table.name), keyed by \(self.keyNames(table))"]
    }

    private static func collectionPaths(_ table: TableSchema, row: String) -> [String: Any] {
        func report(_ collection: String) -> [String: Any] {
            let item: [String: Any] = [
                "allOf": [
                    ["$ref": "#/components/schemas/ItemCommon"],
                    [
                        "type": "object",
                        "properties": ["key": [:] as [String: Any], "row": ["$ref": "#/components/schemas/\(row)"], "version": ["type": "integer"]],
                    ],
                ]
            ]
            let schema: [String: Any] = [
                "type": "object", "required": [collection, "summary"],
                "properties": [collection: ["type": "array", "items": item], "summary": ["$ref": "#/components/schemas/Summary"]],
            ]
            // An atomic batch that failed answers with its first failed row's status, and the report as its body.
            func failure(_ description: String) -> [String: Any] {
                [
                    "description": description + "; or an atomic batch whose first failed row has this status (the report)",
                    "content": [
                        "application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]], "application/json": ["schema": schema],
                    ],
                ]
            }
            return [
                "200": ["description": "atomic, every row applied", "content": ["application/json": ["schema": schema]]],
                "207": ["description": "one item per request item, in order", "content": ["application/json": ["schema": schema]]],
                "400": failure("malformed body or query"), "401": ["$ref": "#/components/responses/Unauthorized"],
                "403": failure("an account that may not change the table"), "404": failure("a table the account may not read"),
                "406": self.problem("Accept names no format this server writes"),
                "409": failure("the Idempotency-Key belongs to a request still running"), "412": failure("a stale version"),
                "413": self.problem("more items than the limit"), "415": self.problem("the body is not application/json"),
                "422": failure("the Idempotency-Key was used with another body"), "429": ["$ref": "#/components/responses/TooManyRequests"],
            ]
        }
        func operation(_ summary: String, _ id: String, _ collection: String, body: [String: Any]) -> [String: Any] {
            [
                "summary": summary, "operationId": "\(id)_\(table.name)",
                "parameters": [
                    [
                        "name": "Prefer", "in": "header", "required": false, "schema": ["type": "string"],
                        "description":
                            "`atomic` for all or nothing; `return=representation` for each written row in its item (`row`), "
                            + "`return=minimal` (the default) for its key and version only",
                    ],
                    ["name": "Idempotency-Key", "in": "header", "required": false, "schema": ["type": "string", "minLength": 1, "maxLength": 255]],
                    ["name": "only", "in": "query", "required": false, "schema": ["type": "string", "enum": ["failed"]]],
                ],
                "requestBody": ["required": true, "content": ["application/json": ["schema": body]]],
                "responses": report(collection),
            ]
        }
        let rows: [String: Any] = ["type": "array", "items": ["$ref": "#/components/schemas/\(row)"], "minItems": 1]
        return [
            "post": operation("Insert rows into \(table.name)", "insert", "created", body: rows),
            "patch": operation(
                "Update rows of \(table.name) by key; the version column, when given, must be current", "update", "updates", body: rows),
            "put": operation("Insert or update rows of \(table.name) by key: 201 or 200 each", "upsert", "upserts", body: rows),
            "delete": operation(
                "Delete rows of \(table.name) by key", "delete", "deletions",
                body: ["type": "object", "required": ["keys"], "properties": ["keys": ["type": "array", "minItems": 1]]]),
            "get": [
                "summary": "Read rows of \(table.name): by ?keys=, or a page in key order", "operationId": "read_\(table.name)",
                "parameters": [
                    [
                        "name": "keys", "in": "query", "required": false, "schema": ["type": "string", "minLength": 1],
                        "description": "keys separated by commas (by semicolons when the key has several columns, its parts by commas)",
                    ],
                    ["name": "limit", "in": "query", "required": false, "schema": ["type": "integer", "minimum": 1]],
                    [
                        "name": "after", "in": "query", "required": false, "schema": ["type": "string"],
                        "description": "the key the page starts after",
                    ],
                ],
                "responses": report("rows").merging(
                    [
                        "200": [
                            "description": "a page of rows in key order, and the link to the next (null on the last)",
                            "content": [
                                "application/json": [
                                    "schema": [
                                        "type": "object",
                                        "properties": [
                                            "rows": ["type": "array", "items": ["$ref": "#/components/schemas/\(row)"]],
                                            "next": ["type": ["string", "null"]],
                                        ],
                                    ]
                                ]
                            ],
                        ]
                    ], uniquingKeysWith: { $1 }),
            ] as [String: Any],
        ]
    }
}
