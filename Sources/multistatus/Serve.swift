import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MultiStatusServer

/// `multistatus serve`: every flag can also come from `MULTISTATUS_<FLAG>`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server.",
        discussion: "Each flag can also be set with an environment variable MULTISTATUS_<FLAG>, e.g. MULTISTATUS_PORT=9000."
    )

    @Option(help: "Address to listen on. [env: MULTISTATUS_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port. [env: MULTISTATUS_PORT] (default: 8080)")
    var port: Int?

    @Option(help: "Folder for files and the embedded database. [env: MULTISTATUS_DATA_DIR] (default: ./data)")
    var dataDir: String?

    @Option(help: "sqlite:PATH or postgres://user:pass@host:port/db (default: sqlite:<data-dir>/multistatus.sqlite). [env: MULTISTATUS_DATABASE]")
    var database: String?

    @Option(
        name: .customLong("check"),
        help: "A required upstream to probe, NAME=URL (http://, https:// or tcp://host:port); repeatable. [env: MULTISTATUS_CHECK, comma-separated]"
    )
    var checks: [String] = []

    @Option(
        name: .customLong("optional-check"),
        help: "An upstream whose failure is only a warning, NAME=URL; repeatable. [env: MULTISTATUS_OPTIONAL_CHECK]"
    )
    var optionalChecks: [String] = []

    @Option(help: "How long each status probe may take, in ms. [env: MULTISTATUS_PROBE_TIMEOUT_MS] (default: 2000)")
    var probeTimeoutMs: Int?

    @Option(help: "How long status results are reused, in ms. [env: MULTISTATUS_STATUS_CACHE_MS] (default: 1000)")
    var statusCacheMs: Int?

    @Option(help: "Largest request body in bytes. [env: MULTISTATUS_MAX_REQUEST_BYTES] (default: 10 GiB)")
    var maxRequestBytes: Int?

    @Option(help: "Most items per batch request. [env: MULTISTATUS_MAX_ITEMS] (default: 10000)")
    var maxItems: Int?

    @Option(help: "Most files per upload request. [env: MULTISTATUS_MAX_FILES] (default: 1000)")
    var maxFiles: Int?

    @Option(help: "Largest uploaded file in bytes. [env: MULTISTATUS_MAX_FILE_BYTES] (default: 1 GiB)")
    var maxFileBytes: Int?

    @Option(help: "Media types an upload may have, comma-separated (image/*, text/plain); empty allows any. [env: MULTISTATUS_ALLOWED_TYPES]")
    var allowedTypes: String?

    @Option(help: "Most bytes the file store may hold. [env: MULTISTATUS_QUOTA_BYTES] (default: no quota)")
    var quotaBytes: Int?

    @Flag(help: "Serve PROPFIND with Depth: infinity on folders, listing at most --depth-infinity-members. [env: MULTISTATUS_ALLOW_DEPTH_INFINITY]")
    var allowDepthInfinity = false

    @Option(help: "Most members one Depth: infinity listing holds before a 507. [env: MULTISTATUS_DEPTH_INFINITY_MEMBERS] (default: 100000)")
    var depthInfinityMembers: Int?

    @Option(
        help:
            "fsync: sync each file and its folder before reporting it stored; none: leave it to the kernel. [env: MULTISTATUS_DURABILITY] (default: fsync)"
    )
    var durability: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error. [env: MULTISTATUS_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Option(help: "Accounts, one a line: name:BCRYPT-HASH:read|write[:ROOT], as htpasswd -nbB writes the first two. [env: MULTISTATUS_AUTH_FILE]")
    var authFile: String?

    @Option(
        help: "Bearer tokens, one a line: name:SHA256-OF-TOKEN:read|write[:ROOT]; `multistatus token create` adds one. [env: MULTISTATUS_TOKEN_FILE]")
    var tokenFile: String?

    @Flag(help: "Serve callers without accounts on an address other than loopback. [env: MULTISTATUS_ALLOW_ANONYMOUS]")
    var allowAnonymous = false

    @Flag(help: "Answer /check-statuses and /health without credentials too (each source's status only). [env: MULTISTATUS_PUBLIC_HEALTH]")
    var publicHealth = false

    @Option(
        name: .customLong("trusted-proxy"),
        help: "A reverse proxy's address whose X-Forwarded-For names the client; repeatable. [env: MULTISTATUS_TRUSTED_PROXY, comma-separated]")
    var trustedProxies: [String] = []

    @Option(
        name: .customLong("cors-origin"),
        help: "An origin whose pages may call the server (https://app.example); repeatable. [env: MULTISTATUS_CORS_ORIGIN, comma-separated]")
    var corsOrigins: [String] = []

    @Option(help: "Most connections open at once; more are answered 503. [env: MULTISTATUS_MAX_CONNECTIONS] (default: 1024)")
    var maxConnections: Int?

    @Option(help: "Longest idle time between requests, and for sending a request's head, in ms. [env: MULTISTATUS_IDLE_TIMEOUT_MS] (default: 30000)")
    var idleTimeoutMs: Int?

    @Option(
        help:
            "Window in ms over which a request body must send at least --min-body-rate bytes a second, or get 408. [env: MULTISTATUS_BODY_TIMEOUT_MS] (default: 20000)"
    )
    var bodyTimeoutMs: Int?

    @Option(help: "Slowest average rate of a request body, in bytes a second. [env: MULTISTATUS_MIN_BODY_RATE] (default: 500)")
    var minBodyRate: Int?

    @Option(
        help:
            "How long a request waits for a PostgreSQL connection, in ms, before it gets 503 with Retry-After. [env: MULTISTATUS_DATABASE_WAIT_MS] (default: 5000)"
    )
    var databaseWaitMs: Int?

    @Option(help: "Most bytes of a request's header fields; more are answered 431. [env: MULTISTATUS_MAX_HEADER_BYTES] (default: 32768)")
    var maxHeaderBytes: Int?

    @Option(
        help: """
            Where the server's own tables live, apart from the tables it serves: on PostgreSQL a schema of the database, created when missing; \
            on SQLite the file <data-dir>/<schema>.sqlite beside the database's, or main for the database's own file. \
            [env: MULTISTATUS_SCHEMA] (default: multistatus)
            """
    )
    var schema: String?

    @Option(
        name: .customLong("table"),
        help: "A table of the database to serve under /tables/NAME, keyed by its primary key; repeatable. [env: MULTISTATUS_TABLE, comma-separated]"
    )
    var tables: [String] = []

    @Option(
        help:
            "A TOML file whose [tables.NAME] sections serve tables with options (key, version, read-only, readers, writers). [env: MULTISTATUS_CONFIG]"
    )
    var config: String?

    @Option(help: "PEM certificate chain: serve HTTPS, HTTP/2 and HTTP/1.1, with --tls-key. [env: MULTISTATUS_TLS_CERT]")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert. [env: MULTISTATUS_TLS_KEY]")
    var tlsKey: String?

    func run() async throws {
        let environment = Environment(ProcessInfo.processInfo.environment)
        var limits = Limits()
        if let value = try environment.int(self.probeTimeoutMs, "PROBE_TIMEOUT_MS", range: 1...600_000) { limits.probeTimeoutMs = value }
        if let value = try environment.int(self.statusCacheMs, "STATUS_CACHE_MS", range: 0...3_600_000) { limits.statusCacheMs = value }
        if let value = try environment.int(self.maxRequestBytes, "MAX_REQUEST_BYTES", range: 1...Int.max) { limits.bytesPerRequest = value }
        if let value = try environment.int(self.maxItems, "MAX_ITEMS", range: 1...1_000_000) { limits.itemsPerBatch = value }
        if let value = try environment.int(self.maxFiles, "MAX_FILES", range: 1...1_000_000) { limits.filesPerRequest = value }
        if let value = try environment.int(self.maxFileBytes, "MAX_FILE_BYTES", range: 0...Int.max) { limits.bytesPerFile = value }
        if let value = try environment.int(self.quotaBytes, "QUOTA_BYTES", range: 0...Int.max) { limits.storeQuotaBytes = value }
        if let value = try environment.int(self.maxConnections, "MAX_CONNECTIONS", range: 1...1_000_000) { limits.connections = value }
        if let value = try environment.int(self.idleTimeoutMs, "IDLE_TIMEOUT_MS", range: 100...3_600_000) { limits.idleTimeoutMs = value }
        if let value = try environment.int(self.bodyTimeoutMs, "BODY_TIMEOUT_MS", range: 100...3_600_000) { limits.bodyTimeoutMs = value }
        if let value = try environment.int(self.minBodyRate, "MIN_BODY_RATE", range: 0...Int(Int32.max)) { limits.bodyMinimumBytesPerSecond = value }
        if let value = try environment.int(self.databaseWaitMs, "DATABASE_WAIT_MS", range: 1...600_000) { limits.databaseWaitMs = value }
        // The HTTP decoder reads a head of at most 80 KiB whatever it is told.
        if let value = try environment.int(self.maxHeaderBytes, "MAX_HEADER_BYTES", range: 1_024...(80 << 10)) { limits.headerBytes = value }
        if try environment.bool(self.allowDepthInfinity, "ALLOW_DEPTH_INFINITY") {
            limits.depthInfinityMembers =
                try environment.int(self.depthInfinityMembers, "DEPTH_INFINITY_MEMBERS", range: 1...Int.max) ?? Limits.defaultDepthInfinityMembers
        } else if try environment.int(self.depthInfinityMembers, "DEPTH_INFINITY_MEMBERS", range: 1...Int.max) != nil {
            throw ValidationError("--depth-infinity-members needs --allow-depth-infinity")
        }
        if let types = environment.string(self.allowedTypes, "ALLOWED_TYPES") {
            limits.allowedTypes = types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        }
        let durabilityText = environment.string(self.durability, "DURABILITY") ?? "fsync"
        guard let durability = LocalFileStore.Durability(rawValue: durabilityText) else {
            throw ValidationError("durability must be fsync or none, not \(durabilityText)")
        }

        let required = self.checks.isEmpty ? environment.list("CHECK") : self.checks
        let optional = self.optionalChecks.isEmpty ? environment.list("OPTIONAL_CHECK") : self.optionalChecks
        let checks: [StatusCheckTarget]
        do {
            checks = try required.map { try StatusCheckTarget(parsing: $0) } + optional.map { try StatusCheckTarget(parsing: $0, isRequired: false) }
        } catch {
            throw ValidationError("\(error)")
        }
        let dataDir = environment.string(self.dataDir, "DATA_DIR") ?? "./data"

        var logger = Logger(label: "multistatus")
        let levelText = environment.string(self.logLevel, "LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("unknown log level \(levelText)") }
        logger.logLevel = level

        let authFile = environment.string(self.authFile, "AUTH_FILE")
        let tokenFile = environment.string(self.tokenFile, "TOKEN_FILE")
        let accounts = authFile == nil && tokenFile == nil ? nil : try AccountDirectory(accountFile: authFile, tokenFile: tokenFile, logger: logger)
        let tls: TLSFiles?
        switch (environment.string(self.tlsCert, "TLS_CERT"), environment.string(self.tlsKey, "TLS_KEY")) {
        case (nil, nil): tls = nil
        case (let certificate?, let key?): tls = TLSFiles(certificatePath: certificate, keyPath: key)
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        var tables = try environment.string(self.config, "CONFIG").map(ConfigFile.tables(atPath:)) ?? []
        for name in self.tables.isEmpty ? environment.list("TABLE") : self.tables where !tables.contains(where: { $0.name == name }) {
            tables.append(TableOptions(name: name))
        }
        var configuration = ServerConfiguration(
            host: environment.string(self.host, "HOST") ?? "127.0.0.1",
            port: try environment.int(self.port, "PORT", range: 0...65535) ?? 8080,
            dataDirectory: dataDir,
            databaseURL: environment.string(self.database, "DATABASE"),
            limits: limits,
            checks: checks,
            durability: durability,
            accounts: accounts,
            allowAnonymous: try environment.bool(self.allowAnonymous, "ALLOW_ANONYMOUS"),
            publicHealth: try environment.bool(self.publicHealth, "PUBLIC_HEALTH"),
            trustedProxies: self.trustedProxies.isEmpty ? environment.list("TRUSTED_PROXY") : self.trustedProxies,
            corsOrigins: self.corsOrigins.isEmpty ? environment.list("CORS_ORIGIN") : self.corsOrigins,
            tls: tls,
            tables: tables
        )
        if let schema = environment.string(self.schema, "SCHEMA") { configuration.databaseSchema = schema }

        let host = configuration.host
        let scheme = tls == nil ? "http" : "https"
        let app = try await buildApplication(configuration, logger: logger) { port in
            // One line on stdout, written unbuffered so that scripts waiting for it see it at once.
            FileHandle.standardOutput.write(Data("MultiStatus listening on \(scheme)://\(host):\(port)\n".utf8))
        }
        try await withTaskExecutorPreference(WakingEventLoopExecutor()) { try await app.runService() }
    }
}

/// Flag values fall back to `MULTISTATUS_<NAME>` environment variables.
private struct Environment {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }

    func string(_ flag: String?, _ name: String) -> String? {
        flag ?? self.values["MULTISTATUS_" + name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func int(_ flag: Int?, _ name: String, range: ClosedRange<Int>) throws -> Int? {
        let value: Int
        if let flag {
            value = flag
        } else if let text = self.string(nil, name) {
            guard let parsed = Int(text) else { throw ValidationError("MULTISTATUS_\(name)=\(text) is not an integer") }
            value = parsed
        } else {
            return nil
        }
        guard range.contains(value) else { throw ValidationError("\(name.lowercased()) must be in \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    /// A flag, or `MULTISTATUS_<NAME>` set to true/1/yes.
    func bool(_ flag: Bool, _ name: String) throws -> Bool {
        if flag { return true }
        guard let text = self.string(nil, name)?.lowercased() else { return false }
        switch text {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw ValidationError("MULTISTATUS_\(name)=\(text) is not true or false")
        }
    }

    func list(_ name: String) -> [String] {
        self.string(nil, name)?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }
}
