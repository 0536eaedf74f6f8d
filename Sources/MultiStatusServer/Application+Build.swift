import AsyncHTTPClient
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
public import Logging
import MultiStatus
import MultiStatusHummingbird
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// Builds the MultiStatus server: opens the data folder and the database, wires every feature.
///
/// ```swift
/// let app = try await buildApplication(ServerConfiguration(port: 0), logger: logger)
/// try await app.runService()
/// ```
/// - Parameters:
///   - configuration: where to listen, where data lives, limits and checks.
///   - logger: the server's logger.
///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
public func buildApplication(
    _ configuration: ServerConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    try configuration.validate()
    if configuration.accounts != nil && configuration.tls == nil && !configuration.listensOnLoopbackOnly {
        logger.warning(
            "passwords and tokens will cross the network unencrypted: give --tls-cert and --tls-key, or put a TLS proxy in front",
            metadata: ["host": "\(configuration.host)"])
    }
    let tls = try configuration.tls.map(TLSConfiguration.server)
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let database = try await Database.open(
        url: configuration.resolvedDatabaseURL, connectionWait: configuration.limits.databaseWait, schema: configuration.databaseSchema,
        dataDirectory: configuration.dataDirectory, logger: logger)
    let tables: [String: TableSchema]
    let users: UserTable
    do {
        tables = try await TableIntrospection.schemas(of: configuration.tables, in: database)
        users = try UserTable(
            schema: try await TableIntrospection.serverSchema(of: TableOptions(name: "users", key: ["id"], version: "version"), in: database))
    } catch {
        await database.close()
        throw error
    }
    let gate = ConnectionGate(cap: configuration.limits.connections)
    let locks = LockStore(database: database, markerPath: configuration.dataDirectory + "/dav-locks.present")
    try await locks.reconcile()
    let metrics = ServerMetrics(openConnections: { gate.count }, locksHeld: { try await locks.heldCount() })
    let store = try LocalFileStore(
        dataDirectory: configuration.dataDirectory,
        durability: configuration.durability,
        quotaBytes: configuration.limits.storeQuotaBytes,
        logger: logger,
        resolution: nil,
        onStored: { metrics.stored(bytes: $0) }
    )
    try configuration.accounts?.prepareRoots { root in try store.makeFolders(root) }

    // A probe answers for the upstream as it is now: a refused connection is "down" at once, not retried
    // until the timeout, and a redirect is an answer in itself.
    var clientConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
    clientConfiguration.connectionPool.retryConnectionEstablishment = false
    clientConfiguration.timeout.connect = TimeAmount(configuration.limits.probeTimeout)
    let probeClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

    let probes: [any HealthProbe] =
        [DatabaseProbe(database: database), StorageProbe(directory: configuration.dataDirectory)]
        + configuration.checks.map { target -> any HealthProbe in
            switch target.endpoint {
            case .http(let url): HTTPProbe(name: target.name, url: url, isRequired: target.isRequired, client: probeClient)
            case .tcp(let host, let port): TCPProbe(name: target.name, host: host, port: port, isRequired: target.isRequired)
            }
        }
    let board = StatusBoard(
        probes: probes,
        timeout: configuration.limits.probeTimeout,
        cacheInterval: configuration.limits.statusCacheInterval,
        onProbe: { metrics.probe(source: $0, duration: $1) }
    )

    let router = Router(context: AppRequestContext.self)
    // Outermost: a preflight is answered before credentials are asked for, and every error is a response by then.
    if !configuration.corsOrigins.isEmpty {
        router.add(middleware: CORSPolicy(origins: configuration.corsOrigins, methods: DAVRoutes<AppRequestContext>.methods + [.post, .patch]))
    }
    router.add(middleware: RequestLogMiddleware(onAnswered: { metrics.request($0) }))
    router.add(middleware: ProblemMiddleware())
    let routeMethods = RouteMethods()
    router.add(middleware: MethodNotAllowedMiddleware(routes: routeMethods))
    let throttle = LoginThrottle()
    let sessions = configuration.accounts.map { _ in ConsoleSessions() }
    if let accounts = configuration.accounts, let sessions {
        router.add(middleware: AccountAuthenticator(accounts: accounts, throttle: throttle, trustedProxies: Set(configuration.trustedProxies)))
        router.add(middleware: SessionAuthenticator(sessions: sessions, accounts: accounts))
        router.add(middleware: AccessPolicyMiddleware(acceptsTokens: accounts.acceptsTokens, publicHealth: configuration.publicHealth))
    }
    router.add(middleware: RequestLimitsMiddleware(maxBodyBytes: configuration.limits.bytesPerRequest))
    router.add(middleware: GlobalExecutorMiddleware(prefixes: ["users", "tables", "upload", "file-operations"]))
    HealthRoutes<AppRequestContext>(board: board, accountsInForce: configuration.accounts != nil).register(on: router)

    let properties = PropertyStore(database: database, markerPath: configuration.dataDirectory + "/dav-properties.present")
    try await properties.marker.reconcile()
    let operations = FileOperations(store: store, properties: properties, locks: locks)
    let batches = BatchResponder(idempotency: IdempotencyStore(database: database), limits: configuration.limits.batch) {
        metrics.batch(endpoint: $0, items: $1)
    }
    ConsoleRoutes<AppRequestContext>(
        sessions: sessions, accounts: configuration.accounts, throttle: throttle, trustedProxies: Set(configuration.trustedProxies),
        secure: configuration.tls != nil
    ).register(on: router)
    FileRoutes<AppRequestContext>(operations: operations, limits: configuration.limits).register(on: router)
    FileOperationRoutes<AppRequestContext>(operations: operations, batches: batches).register(on: router)
    DAVRoutes<AppRequestContext>(operations: operations, limits: configuration.limits).register(on: router)
    UploadRoutes<AppRequestContext>(operations: operations, limits: configuration.limits, batches: batches).register(on: router)
    UserRoutes<AppRequestContext>(table: users, database: database, batches: batches, limits: configuration.limits).register(on: router)
    TableRoutes<AppRequestContext>(
        stores: tables.mapValues { TableStore(database: database, schema: $0) }, batches: batches, limits: configuration.limits
    ).register(on: router)
    router.get("metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: await metrics.exposition()))
    }
    router.get("limits") { _, _ in
        Response.json(ByteBuffer(bytes: try JSONEncoder.sorted.encode(configuration.limits)))
    }
    let openAPI = try OpenAPIDocument.data(tables: Array(tables.values))
    router.get("openapi.json") { _, _ in
        Response.json(ByteBuffer(bytes: openAPI))
    }
    routeMethods.record(router)

    let maxBodyBytes = configuration.limits.bytesPerRequest
    // Without credentials a request is refused before its body: no 100 Continue invites it.
    let requiresAuthorization = configuration.accounts != nil
    let limits = configuration.limits
    let channel = HTTP1Channel.Configuration(
        additionalChannelHandlers: [
            RequestGuardHandler(
                window: .milliseconds(Int64(limits.bodyTimeoutMs)), minimumBytesPerSecond: limits.bodyMinimumBytesPerSecond,
                headerFields: limits.headerFields, headerBytes: limits.headerBytes),
            ExpectContinueHandler(maxBodyBytes: maxBodyBytes, requiresAuthorization: requiresAuthorization),
        ],
        idleTimeout: .milliseconds(Int64(limits.idleTimeoutMs)),
        httpDecoderConfiguration: .init(
            maxHeaderFieldSize: limits.headerBytes, maxHeaderListSize: limits.headerBytes, maxHeaderFieldCount: limits.headerFields)
    )
    var app = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            guard let tls else { return EventLoopAffineChannel(base: HTTP1Channel(responder: responder, configuration: channel), gate: gate) }
            // HTTPS: HTTP/2 when the client offers it in ALPN, HTTP/1.1 otherwise.
            return EventLoopAffineChannel(
                base: try HTTP2UpgradeChannel(tlsConfiguration: tls, configuration: .init(streamConfiguration: channel), responder: responder),
                gate: gate)
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "MultiStatus"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
    app.addServices(DatabaseService(database: database), HTTPClientService(client: probeClient))
    if let accounts = configuration.accounts { app.addServices(AccountReloadService(accounts: accounts)) }
    return app
}

/// Reads the account and token files again on SIGHUP.
struct AccountReloadService: Service {
    let accounts: AccountDirectory

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            self.accounts.reload()
        }
    }
}

/// Closes the database when the server shuts down.
struct DatabaseService: Service {
    let database: Database

    func run() async throws {
        try? await gracefulShutdown()
        // In a task of its own, so that it runs even when the service group was cancelled rather
        // than shut down: a cancelled close leaves the SQLite connections open, and freeing an open
        // connection traps.
        await Task { await self.database.close() }.value
    }
}

/// Shuts the probes' HTTP client down when the server shuts down.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}

extension JSONEncoder {
    /// Sorted keys, so that documents are stable.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension Response {
    /// A single-status JSON response with its length.
    /// - Parameters:
    ///   - body: the JSON text.
    ///   - status: the status; 200 by default.
    ///   - contentType: `application/json` unless a more specific JSON type applies (`application/health+json`).
    ///   - headers: further header fields.
    ///   - head: true to answer a HEAD request: the same headers, no body.
    static func json(
        _ body: ByteBuffer,
        status: HTTPResponse.Status = .ok,
        contentType: String = "application/json; charset=utf-8",
        headers: HTTPFields = [:],
        head: Bool = false
    ) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        fields[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: fields, body: head ? .init() : .init(byteBuffer: body))
    }
}
