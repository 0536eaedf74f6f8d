import Foundation
import TOMLKit

/// How one operator table is served under `/tables/NAME`: `--table NAME`, or a `[tables.NAME]`
/// section of the `--config` file. Everything else (columns, types, constraints) is read from the
/// database itself.
public struct TableOptions: Sendable, Hashable {
    /// The table's name in the database, and its path segment.
    public var name: String
    /// On PostgreSQL, the schema the table is in; `public` when `nil`.
    public var schema: String?
    /// The columns that identify a row in requests; `nil` means the primary key.
    public var key: [String]?
    /// A column the server counts up on every change, for optimistic concurrency (412 on a mismatch).
    public var version: String?
    /// Columns a request may not set (403 for the row that tries).
    public var readOnly: [String]
    /// Accounts that may read the table; `nil` means every account.
    public var readers: [String]?
    /// Accounts that may change the table; `nil` means every account that may write.
    public var writers: [String]?

    /// Creates the options of one table; every argument but the name has the documented default.
    public init(
        name: String, schema: String? = nil, key: [String]? = nil, version: String? = nil, readOnly: [String] = [], readers: [String]? = nil,
        writers: [String]? = nil
    ) {
        self.name = name
        self.schema = schema
        self.key = key
        self.version = version
        self.readOnly = readOnly
        self.readers = readers
        self.writers = writers
    }

    /// Whether `account` may read the table (`nil`: the server runs without accounts).
    func mayRead(_ account: Account?) -> Bool {
        guard let account, let readers = self.readers else { return true }
        return readers.contains(account.name) || self.writers?.contains(account.name) == true
    }

    /// Whether `account` may change the table.
    func mayWrite(_ account: Account?) -> Bool {
        guard let account else { return true }
        return account.mayWrite && (self.writers?.contains(account.name) ?? true)
    }
}

/// The `--config` file: TOML, with one `[tables.NAME]` section per served table.
///
/// ```toml
/// [tables.orders]
/// schema = "public"         # PostgreSQL only; public by default
/// key = "id"                # or ["region", "number"]; the primary key by default
/// version = "version"       # counted up on every change; a stale version gets 412
/// read-only = ["created_at"]
/// readers = ["alice", "bob"]
/// writers = ["alice"]
/// ```
public enum ConfigFile {
    /// The tables of the file at `path`.
    /// - Throws: ``ConfigurationError`` naming the file, and the line or key, that is wrong.
    public static func tables(atPath path: String) throws -> [TableOptions] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        return try self.tables(parsing: text, file: path)
    }

    /// The tables of the TOML document `text`; `file` names it in errors.
    public static func tables(parsing text: String, file: String) throws -> [TableOptions] {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(file) line \(error.source.begin.line): \(error.description)")
        }
        for key in document.keys where key != "tables" {
            throw ConfigurationError("\(file): unknown section \"\(key)\"; known: tables")
        }
        guard let section = document["tables"] else { return [] }
        guard let tables = section.table else { throw ConfigurationError("\(file): \"tables\" must be a table of [tables.NAME] sections") }
        return try tables.keys.sorted().map { name in
            guard let table = tables[name]?.table else { throw ConfigurationError("\(file): tables.\(name) must be a [tables.\(name)] section") }
            let at = "\(file): tables.\(name)"
            var options = TableOptions(name: name)
            for key in table.keys {
                let value = table[key]!
                switch key {
                case "key":
                    if let column = value.string {
                        options.key = [column]
                    } else {
                        options.key = try self.names(value, at: "\(at).key")
                        if options.key!.isEmpty { throw ConfigurationError("\(at).key names no column") }
                    }
                case "schema":
                    guard let schema = value.string else { throw ConfigurationError("\(at).schema must be a schema name") }
                    options.schema = schema
                case "version":
                    guard let column = value.string else { throw ConfigurationError("\(at).version must be a column name") }
                    options.version = column
                case "read-only": options.readOnly = try self.names(value, at: "\(at).read-only")
                case "readers": options.readers = try self.names(value, at: "\(at).readers")
                case "writers": options.writers = try self.names(value, at: "\(at).writers")
                default: throw ConfigurationError("\(at): unknown key \"\(key)\"; known: schema, key, version, read-only, readers, writers")
                }
            }
            return options
        }
    }

    private static func names(_ value: any TOMLValueConvertible, at place: String) throws -> [String] {
        guard let array = value.array else { throw ConfigurationError("\(place) must be an array of names") }
        return try array.map { element in
            guard let name = element.string else { throw ConfigurationError("\(place) must hold names (strings)") }
            return name
        }
    }
}
