import AsyncHTTPClient
import Foundation
public import Hummingbird
import HummingbirdCore
public import Logging
import MultiStatus
import MultiStatusHummingbird
import NIOCore
import ServiceLifecycle

/// The request context of every route.
public typealias AppRequestContext = BasicRequestContext

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
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let database = try await Database.open(url: configuration.resolvedDatabaseURL, logger: logger)
    let store = try LocalFileStore(
        dataDirectory: configuration.dataDirectory,
        durability: configuration.durability,
        quotaBytes: configuration.limits.storeQuotaBytes,
        logger: logger
    )

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
        cacheInterval: configuration.limits.statusCacheInterval
    )

    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: RequestLimitsMiddleware(maxBodyBytes: configuration.limits.bytesPerRequest))
    router.add(middleware: GlobalExecutorMiddleware(prefixes: ["users", "upload"]))
    HealthRoutes<AppRequestContext>(board: board).register(on: router)
    UploadRoutes<AppRequestContext>(store: store, limits: configuration.limits).register(on: router)
    FileRoutes<AppRequestContext>(store: store).register(on: router)
    let locks = LockStore(database: database, markerPath: configuration.dataDirectory + "/dav-locks.present")
    try await locks.reconcile()
    let properties = PropertyStore(database: database, markerPath: configuration.dataDirectory + "/dav-properties.present")
    try await properties.marker.reconcile()
    DAVRoutes<AppRequestContext>(
        store: store,
        properties: properties,
        locks: locks,
        limits: configuration.limits
    ).register(on: router)
    UserRoutes<AppRequestContext>(
        store: UserStore(database: database),
        idempotency: IdempotencyStore(database: database),
        limits: configuration.limits
    ).register(on: router)
    router.get("limits") { _, _ in
        Response.json(ByteBuffer(bytes: try JSONEncoder.sorted.encode(configuration.limits)))
    }
    router.get("openapi.json") { _, _ in
        Response.json(ByteBuffer(bytes: try OpenAPIDocument.data()))
    }

    let maxBodyBytes = configuration.limits.bytesPerRequest
    var app = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            EventLoopAffineChannel(
                base: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: maxBodyBytes)])))
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "MultiStatus"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
    app.addServices(DatabaseService(database: database), HTTPClientService(client: probeClient))
    return app
}

/// Closes the database when the server shuts down.
struct DatabaseService: Service {
    let database: Database

    func run() async throws {
        try? await gracefulShutdown()
        await self.database.close()
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
