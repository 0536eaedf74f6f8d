import Foundation

/// Everything `multistatus serve` is told: where to listen, where data lives, limits, dependencies to check.
public struct ServerConfiguration: Sendable {
    /// Address to listen on.
    public var host: String
    /// Port to listen on; 0 picks a free one.
    public var port: Int
    /// Folder for files and the embedded database.
    public var dataDirectory: String
    /// `sqlite:PATH` or `postgres://…`; `nil` means `sqlite:<data-dir>/multistatus.sqlite`.
    public var databaseURL: String?
    /// `--schema`: where the server's own tables live apart from the operator's: on PostgreSQL a schema
    /// of the database, on SQLite the file `<data-dir>/<schema>.sqlite` (`main`: the database's file).
    public var databaseSchema: String = Database.defaultSchema
    /// Limits in force.
    public var limits: Limits
    /// Upstream services probed by `/check-statuses`.
    public var checks: [StatusCheckTarget]
    /// Whether uploads are synced to disk before they are reported stored.
    public var durability: LocalFileStore.Durability
    /// The accounts and tokens (`--auth-file`, `--token-file`); `nil` lets every caller in.
    public var accounts: AccountDirectory?
    /// `--allow-anonymous`: serve callers without accounts on an address other than loopback.
    public var allowAnonymous: Bool
    /// `--public-health`: `/check-statuses` and `/health` answer callers without an account too (statuses only).
    public var publicHealth: Bool
    /// `--trusted-proxy`: peers whose `X-Forwarded-For` names the client, for the login throttle and the log.
    public var trustedProxies: [String]
    /// `--cors-origin`: origins whose pages may call the server from a browser.
    public var corsOrigins: [String]
    /// `--tls-cert` and `--tls-key`: serve HTTPS (HTTP/1.1 and HTTP/2) instead of HTTP.
    public var tls: TLSFiles?
    /// `--table` and the `--config` file's `[tables.NAME]`: the operator's tables served under `/tables/NAME`.
    public var tables: [TableOptions]

    /// Creates a configuration; every argument has the documented default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        dataDirectory: String = "./data",
        databaseURL: String? = nil,
        limits: Limits = Limits(),
        checks: [StatusCheckTarget] = [],
        durability: LocalFileStore.Durability = .fsync,
        accounts: AccountDirectory? = nil,
        allowAnonymous: Bool = false,
        publicHealth: Bool = false,
        trustedProxies: [String] = [],
        corsOrigins: [String] = [],
        tls: TLSFiles? = nil,
        tables: [TableOptions] = []
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.limits = limits
        self.checks = checks
        self.durability = durability
        self.accounts = accounts
        self.allowAnonymous = allowAnonymous
        self.publicHealth = publicHealth
        self.trustedProxies = trustedProxies
        self.corsOrigins = corsOrigins
        self.tls = tls
        self.tables = tables
    }

    /// True when `host` is a loopback address, reachable from this machine only.
    public var listensOnLoopbackOnly: Bool {
        let host = self.host.lowercased()
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Refuses what would let anyone on the network in: listening beyond loopback without accounts
    /// and without `allowAnonymous`.
    /// - Throws: a ``ConfigurationError`` saying what to give.
    public func validate() throws(ConfigurationError) {
        if self.accounts == nil && !self.allowAnonymous && !self.listensOnLoopbackOnly {
            throw ConfigurationError(
                "refusing to listen on \(self.host) without accounts: anyone who reaches it could read and change every file; "
                    + "give --auth-file or --token-file, or --allow-anonymous to serve everyone"
            )
        }
    }

    /// The database URL in force.
    public var resolvedDatabaseURL: String {
        self.databaseURL ?? "sqlite:" + URL(fileURLWithPath: self.dataDirectory).appendingPathComponent("multistatus.sqlite").path
    }
}

/// An upstream that `/check-statuses` probes: `--check NAME=URL`.
public struct StatusCheckTarget: Sendable, Hashable {
    /// How the upstream is reached.
    public enum Endpoint: Sendable, Hashable {
        /// An HTTP GET; 2xx and 3xx count as up.
        case http(String)
        /// A TCP connection (a cache such as Redis or memcached).
        case tcp(host: String, port: Int)
    }

    /// The source name shown in the report.
    public var name: String
    /// How it is reached.
    public var endpoint: Endpoint
    /// Whether a failure makes the server unready (`/readyz` 503, `/health` fail) or only a warning.
    public var isRequired: Bool

    /// Creates a target.
    public init(name: String, endpoint: Endpoint, isRequired: Bool = true) {
        self.name = name
        self.endpoint = endpoint
        self.isRequired = isRequired
    }

    /// Parses `NAME=URL` where URL is `http(s)://…` or `tcp://host:port`.
    /// - Parameter isRequired: whether the source is required (`--check`) or optional (`--optional-check`).
    public init(parsing text: String, isRequired: Bool = true) throws(ConfigurationError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ConfigurationError("check \"\(text)\" is not NAME=URL")
        }
        let name = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
        let url = String(text[text.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 100, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw ConfigurationError("check name \"\(name)\" must be 1–100 printable characters")
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError("check \(name): \"\(url)\" is not a URL")
        }
        switch scheme {
        case "http", "https":
            self.init(name: name, endpoint: .http(url), isRequired: isRequired)
        case "tcp":
            guard let port = components.port, (1...65535).contains(port) else {
                throw ConfigurationError("check \(name): tcp:// needs a port")
            }
            self.init(name: name, endpoint: .tcp(host: host, port: port), isRequired: isRequired)
        default:
            throw ConfigurationError("check \(name): scheme \(scheme) is not http, https or tcp")
        }
    }
}

/// A configuration value that cannot be used, with what to change.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
