import Foundation
import MultiStatus
import SQLKit

/// Reads a served table's columns and constraints from the database's own catalog:
/// `pg_attribute`, `pg_index` and `pg_constraint` on PostgreSQL; `pragma_table_xinfo`,
/// `pragma_index_list` and `pragma_foreign_key_list` on SQLite. Nothing is declared twice.
enum TableIntrospection {

    /// The schemas of `tables`, checked against the operator's options.
    /// - Throws: ``ConfigurationError`` for a table that does not exist, has no usable key, or
    ///   whose options name columns it lacks.
    static func schemas(of tables: [TableOptions], in database: Database) async throws -> [String: TableSchema] {
        var schemas: [String: TableSchema] = [:]
        for options in tables {
            guard schemas[options.name] == nil else { throw ConfigurationError("table \(options.name) is served twice") }
            let engine = database.engine
            // The server's tables live in a schema of their own on PostgreSQL, and on SQLite in a file
            // of their own, with the operator's file attached, unless one file holds both.
            let schema = engine == .postgres ? options.schema ?? "public" : database.operatorSchema ?? "main"
            if engine == .sqlite ? database.operatorSchema == nil && Migrations.serverTables.contains(options.name) : schema == database.schema {
                throw ConfigurationError("table \(options.name) is one of the server's own (in \(database.schema ?? "the SQLite file"))")
            }
            schemas[options.name] = try await self.schema(of: options, in: schema, database)
        }
        return schemas
    }

    /// The schema of one of the server's own tables (`users`), served with `options`: in the
    /// server's schema on PostgreSQL, in its main file on SQLite.
    static func serverSchema(of options: TableOptions, in database: Database) async throws -> TableSchema {
        try await self.schema(of: options, in: database.schema ?? "main", database)
    }

    /// The table `options` names in `schema` (on SQLite, the name of an attached file).
    private static func schema(of options: TableOptions, in schema: String, _ database: Database) async throws -> TableSchema {
        let engine = database.engine
        let catalog = try await database.withReader { sql in
            engine == .postgres
                ? try await self.postgres(options.name, schema: schema, sql) : try await self.sqlite(options.name, schema: schema, sql)
        }
        guard let catalog else {
            throw ConfigurationError("table \(options.name) does not exist in the database\(engine == .postgres ? " (schema \(schema))" : "")")
        }
        return try self.schema(catalog, qualifiedName: self.qualified(schema, options.name), options: options)
    }

    /// `table` of `schema` as SQL names it.
    private static func qualified(_ schema: String, _ table: String) -> String {
        TableStatements.quote(schema) + "." + TableStatements.quote(table)
    }

    /// What the catalog says, before the options are applied.
    struct Catalog: Sendable {
        var columns: [TableColumn]
        /// Primary key first when there is one.
        var uniques: [(name: String, columns: [String], isPrimary: Bool)]
        var foreignKeys: [(name: String, columns: [String], table: String, schema: String, referenced: [String])]
        /// The foreign keys of other tables that refer to this one, named, where the database does
        /// not name them in its errors (SQLite).
        var referencedBy: [String] = []
        /// CHECK constraints whose expression the database gives (PostgreSQL's `pg_get_constraintdef`).
        var checks: [(name: String, columns: [String], expression: String)] = []
        /// Whether some foreign key is checked only at COMMIT, which PostgreSQL can be told not to do, SQLite not.
        var deferredForeignKeys = false
    }

    private static func schema(_ catalog: Catalog, qualifiedName: String, options: TableOptions) throws -> TableSchema {
        let name = options.name
        let columns = catalog.columns
        let index = Dictionary(columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        func indices(_ names: [String], _ role: String) throws -> [Int] {
            try names.map { column in
                guard let position = index[column] else { throw ConfigurationError("table \(name): \(role) column \(column) does not exist") }
                return position
            }
        }
        let uniques = try catalog.uniques.map { UniqueConstraint(name: $0.name, columns: try indices($0.columns, "unique"), isPrimary: $0.isPrimary) }
        let key: [Int]
        if let given = options.key {
            key = try indices(given, "key")
            guard uniques.contains(where: { Set($0.columns) == Set(key) }) else {
                throw ConfigurationError("table \(name): key \(given.joined(separator: ", ")) is neither the primary key nor UNIQUE")
            }
            guard key.allSatisfy({ columns[$0].notNull }) || uniques.contains(where: { $0.isPrimary && Set($0.columns) == Set(key) }) else {
                throw ConfigurationError("table \(name): key \(given.joined(separator: ", ")) may be NULL; give NOT NULL columns")
            }
        } else {
            guard let primary = uniques.first(where: \.isPrimary) else {
                throw ConfigurationError("table \(name) has no primary key; give its key in the configuration file (key = \"column\")")
            }
            key = primary.columns
        }
        var version: Int?
        if let column = options.version {
            let position = try indices([column], "version")[0]
            guard case .integer = columns[position].type else {
                throw ConfigurationError("table \(name): version column \(column) is not an integer")
            }
            guard !key.contains(position) else { throw ConfigurationError("table \(name): the version column cannot be part of the key") }
            version = position
        }
        _ = try indices(options.readOnly, "read-only")
        let checks = try catalog.checks.map { CheckConstraint(name: $0.name, columns: try indices($0.columns, "check"), expression: $0.expression) }
        let foreignKeys = try catalog.foreignKeys.map {
            let referenced = self.qualified($0.schema, $0.table)
            return ForeignKey(
                name: $0.name, columns: try indices($0.columns, "foreign key"), referencedTable: $0.table, referencedSQL: referenced,
                refersToItself: referenced == qualifiedName, referencedColumns: $0.referenced)
        }
        return TableSchema(
            name: name, qualifiedName: qualifiedName, columns: columns, key: key, version: version, uniques: uniques, foreignKeys: foreignKeys,
            referencedBy: catalog.referencedBy, checks: checks, deferredForeignKeys: catalog.deferredForeignKeys, options: options)
    }

    // MARK: - PostgreSQL

    private static func postgres(_ table: String, schema: String, _ sql: any SQLDatabase) async throws -> Catalog? {
        let relation: SQLQueryString = "to_regclass(quote_ident(\(bind: schema)) || '.' || quote_ident(\(bind: table)))"
        guard
            try await sql.raw("SELECT 1 AS found FROM pg_class WHERE oid = \(relation) AND relkind IN ('r', 'p')").first() != nil
        else { return nil }
        let columns = try await sql.jsonRows(
            """
            SELECT COALESCE(json_agg(json_build_array(name, sql_type, type_name, not_null, has_default, generated, max_length) ORDER BY num), '[]')::text AS rows
            FROM (
                SELECT a.attnum AS num, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, base.typname::text AS type_name,
                    a.attnotnull AS not_null, (a.atthasdef OR a.attidentity <> '') AS has_default,
                    (a.attgenerated <> '' OR a.attidentity = 'a') AS generated,
                    CASE WHEN base.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS max_length
                FROM pg_attribute a
                JOIN pg_type t ON t.oid = a.atttypid
                JOIN pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                WHERE a.attrelid = \(relation) AND a.attnum > 0 AND NOT a.attisdropped
            ) AS c
            """
        ).map { row -> TableColumn in
            guard row.count == 7, let name = row[0].stringValue, let sqlType = row[1].stringValue, let typeName = row[2].stringValue,
                case .bool(let notNull) = row[3], case .bool(let hasDefault) = row[4], case .bool(let generated) = row[5]
            else { throw ProblemDetails.unexpectedDatabaseRow }
            return TableColumn(
                name: name, type: self.postgresType(typeName), sqlType: sqlType, notNull: notNull, hasDefault: hasDefault, generated: generated,
                maxLength: row[6].intValue)
        }
        let columnsOf: (String, String) -> SQLQueryString = { keys, relationColumn in
            """
            (SELECT json_agg(a.attname::text ORDER BY k.n) FROM unnest(\(unsafeRaw: keys)) WITH ORDINALITY AS k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = \(unsafeRaw: relationColumn) AND a.attnum = k.attnum)
            """
        }
        let uniques = try await sql.jsonRows(
            """
            SELECT COALESCE(json_agg(json_build_array(name, is_primary, columns) ORDER BY is_primary DESC, name), '[]')::text AS rows FROM (
                SELECT ic.relname::text AS name, i.indisprimary AS is_primary,
                    (SELECT json_agg(a.attname::text ORDER BY k.n) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE k.n <= i.indnkeyatts) AS columns
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = \(relation) AND i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL
            ) AS u
            """
        ).map { row in
            guard row.count == 3, let name = row[0].stringValue, case .bool(let isPrimary) = row[1], case .array(let columns) = row[2] else {
                throw ProblemDetails.unexpectedDatabaseRow
            }
            return (name: name, columns: columns.compactMap(\.stringValue), isPrimary: isPrimary)
        }
        let foreignKeys = try await sql.jsonRows(
            """
            SELECT COALESCE(json_agg(json_build_array(name, columns, ref_table, ref_schema, ref_columns) ORDER BY name), '[]')::text AS rows FROM (
                SELECT c.conname::text AS name, \(columnsOf("c.conkey", "c.conrelid")) AS columns, r.relname::text AS ref_table,
                    n.nspname::text AS ref_schema, \(columnsOf("c.confkey", "c.confrelid")) AS ref_columns
                FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace n ON n.oid = r.relnamespace
                WHERE c.conrelid = \(relation) AND c.contype = 'f'
            ) AS f
            """
        ).map { row in
            guard row.count == 5, let name = row[0].stringValue, case .array(let columns) = row[1], let table = row[2].stringValue,
                let schema = row[3].stringValue, case .array(let referenced) = row[4]
            else { throw ProblemDetails.unexpectedDatabaseRow }
            return (
                name: name, columns: columns.compactMap(\.stringValue), table: table, schema: schema, referenced: referenced.compactMap(\.stringValue)
            )
        }
        let checks = try await sql.jsonRows(
            """
            SELECT COALESCE(json_agg(json_build_array(name, columns, definition) ORDER BY name), '[]')::text AS rows FROM (
                SELECT c.conname::text AS name, \(columnsOf("c.conkey", "c.conrelid")) AS columns, pg_get_constraintdef(c.oid) AS definition
                FROM pg_constraint c WHERE c.conrelid = \(relation) AND c.contype = 'c' AND c.convalidated
            ) AS k
            """
        ).compactMap { row -> (name: String, columns: [String], expression: String)? in
            guard row.count == 3, let name = row[0].stringValue, let definition = row[2].stringValue else {
                throw ProblemDetails.unexpectedDatabaseRow
            }
            // "CHECK ((price > (0)::numeric))", perhaps followed by NO INHERIT: the expression is the outer parentheses' content.
            guard case .array(let columns) = row[1], definition.hasPrefix("CHECK ("), let close = self.closingParenthesis(of: definition) else {
                return nil
            }
            let expression = definition[definition.index(definition.startIndex, offsetBy: 6)...close]
            return (name: name, columns: columns.compactMap(\.stringValue), expression: String(expression))
        }
        return Catalog(columns: columns, uniques: uniques, foreignKeys: foreignKeys, checks: checks)
    }

    /// The parenthesis closing the one opening `CHECK (`, skipping quoted text.
    private static func closingParenthesis(of definition: String) -> String.Index? {
        var depth = 0
        var quote: Character?
        var index = definition.index(definition.startIndex, offsetBy: 6)
        while index < definition.endIndex {
            let character = definition[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "(" {
                depth += 1
            } else if character == ")" {
                depth -= 1
                if depth == 0 { return index }
            }
            index = definition.index(after: index)
        }
        return nil
    }

    private static func postgresType(_ name: String) -> ColumnType {
        switch name {
        case "int2": .integer(Int(Int16.min)...Int(Int16.max))
        case "int4": .integer(Int(Int32.min)...Int(Int32.max))
        case "int8": .integer(Int.min...Int.max)
        case "float4", "float8": .real
        case "numeric": .numeric
        case "bool": .boolean
        case "text", "varchar", "bpchar", "name", "citext": .text
        case "json", "jsonb": .json
        default: .other(name)
        }
    }

    // MARK: - SQLite

    /// The catalog of `table` in the file attached as `schema` (`main` for the main file): `schema`
    /// is one of the server's own names, never a request's.
    private static func sqlite(_ table: String, schema: String, _ sql: any SQLDatabase) async throws -> Catalog? {
        let master = "\(schema).sqlite_schema"
        guard try await sql.raw("SELECT 1 AS found FROM \(unsafeRaw: master) WHERE type = 'table' AND name = \(bind: table)").first() != nil
        else {
            return nil
        }
        let rows = try await sql.jsonRows(
            """
            SELECT json_group_array(json_array(name, type, "notnull", dflt_value IS NOT NULL, pk, hidden)) AS rows
            FROM pragma_table_xinfo(\(bind: table), \(bind: schema))
            """
        )
        var primary: [(position: Int, name: String)] = []
        var columns: [TableColumn] = []
        for row in rows {
            guard row.count == 6, let name = row[0].stringValue, let declared = row[1].stringValue, let notNull = row[2].intValue,
                let hasDefault = row[3].intValue, let pk = row[4].intValue, let hidden = row[5].intValue
            else { throw ProblemDetails.unexpectedDatabaseRow }
            guard hidden != 1 else { continue }
            if pk > 0 { primary.append((pk, name)) }
            columns.append(
                TableColumn(
                    name: name, type: self.sqliteType(declared), sqlType: declared, notNull: notNull != 0, hasDefault: hasDefault != 0,
                    generated: hidden >= 2, maxLength: nil))
        }
        primary.sort { $0.position < $1.position }
        // A single INTEGER PRIMARY KEY is the rowid: filled by SQLite when an insert leaves it out, and never NULL.
        if primary.count == 1, let position = columns.firstIndex(where: { $0.name == primary[0].name }),
            columns[position].sqlType.uppercased() == "INTEGER"
        {
            let column = columns[position]
            columns[position] = TableColumn(
                name: column.name, type: column.type, sqlType: column.sqlType, notNull: true, hasDefault: true, generated: false, maxLength: nil)
        }
        var uniques = try await sql.jsonRows(
            """
            SELECT json_group_array(json_array(il.name, il.origin,
                json((SELECT json_group_array(ii.name) FROM (SELECT name FROM pragma_index_info(il.name, \(bind: schema)) ORDER BY seqno) AS ii)))) AS rows
            FROM pragma_index_list(\(bind: table), \(bind: schema)) AS il WHERE il."unique" = 1 AND il.partial = 0
            """
        ).compactMap { row -> (name: String, columns: [String], isPrimary: Bool)? in
            guard row.count == 3, let name = row[0].stringValue, let origin = row[1].stringValue, case .array(let names) = row[2] else {
                throw ProblemDetails.unexpectedDatabaseRow
            }
            // An index over an expression has a NULL name for that part: not one the server can check.
            let columns = names.compactMap(\.stringValue)
            guard columns.count == names.count else { return nil }
            return (name: name, columns: columns, isPrimary: origin == "pk")
        }
        if !primary.isEmpty && !uniques.contains(where: \.isPrimary) {
            uniques.append((name: "PRIMARY KEY", columns: primary.map(\.name), isPrimary: true))
        }
        // SQLite names the index of a UNIQUE or PRIMARY KEY constraint sqlite_autoindex_…; the
        // constraint's own name, when it has one, is only in the table's SQL.
        let definition =
            try await sql.raw("SELECT sql FROM \(unsafeRaw: master) WHERE type = 'table' AND name = \(bind: table)").first()?
            .decode(column: "sql", as: String.self) ?? ""
        let named = self.namedConstraints(definition)
        uniques = uniques.map { unique in
            guard unique.name.hasPrefix("sqlite_autoindex_") || unique.name == "PRIMARY KEY",
                let name = named[NamedConstraintKey(unique.isPrimary ? "PRIMARY KEY" : "UNIQUE", Set(unique.columns))]
            else { return unique }
            return (name: name, columns: unique.columns, isPrimary: unique.isPrimary)
        }
        uniques.sort { $0.isPrimary && !$1.isPrimary }
        var groups: [Int: (table: String, pairs: [(seq: Int, from: String, to: String?)])] = [:]
        for row in try await sql.jsonRows(
            """
            SELECT json_group_array(json_array(id, seq, "table", "from", "to")) AS rows FROM pragma_foreign_key_list(\(bind: table), \(bind: schema))
            """
        ) {
            guard row.count == 5, let id = row[0].intValue, let seq = row[1].intValue, let parent = row[2].stringValue,
                let from = row[3].stringValue
            else { throw ProblemDetails.unexpectedDatabaseRow }
            groups[id, default: (parent, [])].pairs.append((seq, from, row[4].stringValue))
        }
        var foreignKeys: [(name: String, columns: [String], table: String, schema: String, referenced: [String])] = []
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
            let pairs = group.pairs.sorted { $0.seq < $1.seq }
            var referenced = pairs.compactMap(\.to)
            if referenced.count != pairs.count {
                // No parent columns named: the parent's primary key.
                referenced = try await sql.raw("SELECT name FROM pragma_table_info(\(bind: group.table), \(bind: schema)) WHERE pk > 0 ORDER BY pk")
                    .all().map {
                        try $0.decode(column: "name", as: String.self)
                    }
            }
            let from = pairs.map(\.from)
            let name = named[NamedConstraintKey("FOREIGN KEY", Set(from))] ?? "foreign key (\(from.joined(separator: ", ")))"
            // SQLite's parent table is in the child's own file.
            foreignKeys.append((name: name, columns: from, table: group.table, schema: schema, referenced: referenced))
        }
        var referring: [String: [(seq: Int, from: String)]] = [:]
        for row in try await sql.jsonRows(
            """
            SELECT json_group_array(json_array(m.name, f.id, f.seq, f."from")) AS rows
            FROM \(unsafeRaw: master) AS m, pragma_foreign_key_list(m.name, \(bind: schema)) AS f WHERE m.type = 'table' AND f."table" = \(bind: table)
            """
        ) {
            guard row.count == 4, let child = row[0].stringValue, let id = row[1].intValue, let seq = row[2].intValue, let from = row[3].stringValue
            else { throw ProblemDetails.unexpectedDatabaseRow }
            referring["\(child)\u{0}\(id)", default: []].append((seq, from))
        }
        let referencedBy = referring.sorted { $0.key < $1.key }.map { key, pairs in
            let columns = pairs.sorted { $0.seq < $1.seq }.map(\.from).joined(separator: ", ")
            return "foreign key (\(columns)) of \(key.split(separator: "\u{0}")[0])"
        }
        let deferred = definition.range(of: #"DEFERRABLE\s+INITIALLY\s+DEFERRED"#, options: [.regularExpression, .caseInsensitive]) != nil
        // SQLite's names are the same whatever their case.
        let byLowercase = Dictionary(columns.map { ($0.name.lowercased(), $0.name) }, uniquingKeysWith: { first, _ in first })
        let checks = SQLiteTableDefinition.checks(in: definition).map { check in
            var names: [String] = []
            for identifier in check.identifiers {
                if let column = byLowercase[identifier.lowercased()], !names.contains(column) { names.append(column) }
            }
            return (name: check.name, columns: names, expression: "(" + check.expression + ")")
        }
        return Catalog(
            columns: columns, uniques: uniques, foreignKeys: foreignKeys, referencedBy: referencedBy, checks: checks,
            deferredForeignKeys: deferred && !foreignKeys.isEmpty)
    }

    /// The named table constraints of a `CREATE TABLE` statement (`CONSTRAINT name UNIQUE (a, b)`),
    /// by kind and column set.
    private static func namedConstraints(_ definition: String) -> [NamedConstraintKey: String] {
        let pattern = #"CONSTRAINT\s+(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|(\w+))\s+(UNIQUE|PRIMARY\s+KEY|FOREIGN\s+KEY)\s*\(([^)]*)\)"#
        guard let expression = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return [:] }
        let text = definition as NSString
        var found: [NamedConstraintKey: String] = [:]
        for match in expression.matches(in: definition, range: NSRange(location: 0, length: text.length)) {
            let name = (1...4).lazy.map { match.range(at: $0) }.first { $0.location != NSNotFound }.map { text.substring(with: $0) }
            guard let name else { continue }
            let kind = text.substring(with: match.range(at: 5)).uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let columns = text.substring(with: match.range(at: 6)).split(separator: ",").compactMap { part in
                part.split(whereSeparator: \.isWhitespace).first.map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"`[]")) }
            }
            found[NamedConstraintKey(kind, Set(columns))] = name.replacingOccurrences(of: "\"\"", with: "\"")
        }
        return found
    }

    /// The kind (`UNIQUE`, `PRIMARY KEY`, `FOREIGN KEY`) and columns of a table constraint.
    struct NamedConstraintKey: Hashable {
        let kind: String
        let columns: Set<String>
        init(_ kind: String, _ columns: Set<String>) {
            self.kind = kind
            self.columns = columns
        }
    }

    /// SQLite's type affinity rules (https://sqlite.org/datatype3.html §3.1), with BOOLEAN and JSON
    /// told apart, as declared types say what values a column is meant for.
    private static func sqliteType(_ declared: String) -> ColumnType {
        let type = declared.uppercased()
        if type.hasPrefix("BOOL") { return .boolean }
        if type.contains("INT") { return .integer(Int.min...Int.max) }
        if type.hasPrefix("JSON") { return .json }
        if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") { return .text }
        if type.isEmpty { return .any }
        if type.contains("BLOB") { return .other("blob") }
        if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") { return .real }
        if type.hasPrefix("NUMERIC") || type.hasPrefix("DECIMAL") { return .numeric }
        return .other(declared.lowercased())
    }
}
