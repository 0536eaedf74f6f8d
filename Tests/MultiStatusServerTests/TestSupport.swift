import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MultiStatus
import MultiStatusServer
import NIOCore
import NIOPosix
import Synchronization

/// A fresh data folder under the system's temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("multistatus-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func testLogger() -> Logger {
    var logger = Logger(label: "multistatus-test")
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}

/// Runs the server on a real socket (a free loopback port) with `configuration` and a fresh data folder.
func withServer<T: Sendable>(
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    logger: Logger = testLogger(),
    _ test: @escaping @Sendable (any TestClientProtocol, ServerConfiguration) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { dataDir in
        var configuration = ServerConfiguration(port: 0, dataDirectory: dataDir)
        // Probes of a healthy server answer within this even when parallel tests load the disk; tests of
        // timeouts set their own.
        configuration.limits.probeTimeoutMs = 30_000
        configure(&configuration)
        let app = try await buildApplication(configuration, logger: logger)
        let frozen = configuration
        return try await app.test(.live) { client in try await test(client, frozen) }
    }
}

/// A stand-in upstream on a real socket: `/ok`, `/fail` (500), `/slow` (holds the request for `delay`
/// or until ``release()``), `/counted` (the same, counting hits) and `/gate` (answers once `gateSize`
/// requests are waiting at once).
final class Upstream: Sendable {
    /// Requests that reached `/counted`.
    let hits = Mutex(0)
    /// Slow requests (`/slow`, `/counted`) answered so far, after their delay.
    let answered = Mutex(0)
    /// Slow requests being held now, and the most held at once.
    let inFlight = Mutex((now: 0, most: 0))
    /// Requests waiting at `/gate`.
    let atGate = Mutex(0)
    private let released = Mutex(false)
    let delay: Duration
    let gateSize: Int

    init(delay: Duration = .seconds(5), gateSize: Int = 1) {
        self.delay = delay
        self.gateSize = gateSize
    }

    private func hold() async {
        self.inFlight.withLock {
            $0.now += 1; $0.most = max($0.most, $0.now)
        }
        let deadline = ContinuousClock.now + self.delay
        while !self.released.withLock({ $0 }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(10), deadline - ContinuousClock.now))
        }
        self.inFlight.withLock { $0.now -= 1 }
        self.answered.withLock { $0 += 1 }
    }

    /// Answers the requests held now and any later one at once.
    func release() { self.released.withLock { $0 = true } }

    func run<T: Sendable>(_ test: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.get("ok") { _, _ in "up" }
        router.get("fail") { _, _ -> Response in Response(status: .internalServerError) }
        router.get("slow") { _, _ -> String in
            await self.hold()
            return "late"
        }
        router.get("gate") { _, _ -> Response in
            // Requests that come one after another never open it: each waits for the others in vain.
            self.atGate.withLock { $0 += 1 }
            for _ in 0..<6_000 {
                if self.atGate.withLock({ $0 }) >= self.gateSize { return Response(status: .ok) }
                try await Task.sleep(for: .milliseconds(10))
            }
            return Response(status: .serviceUnavailable)
        }
        router.get("counted") { _, _ -> String in
            self.hits.withLock { $0 += 1 }
            await self.hold()
            return "counted"
        }
        let app = Application(router: router, logger: testLogger())
        return try await app.test(.live) { client in try await test(client.port!) }
    }
}

/// A loopback port on which nothing listens: bound by a socket that never listens and is kept open
/// until the test process ends, so no server started by a parallel test can take the port meanwhile
/// (a port closed again right away could be handed out to one). Connections to it are refused.
/// - Parameter keep: `false` closes the socket again: a free port for a server the test starts
///   there (with the small chance that another takes it first).
func closedPort(keep: Bool = true) async throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        close(fd)
        throw POSIXError(.EADDRNOTAVAIL)
    }
    if !keep { close(fd) }
    return Int(UInt16(bigEndian: address.sin_port))
}

func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
        throw MultiStatusError.malformedBody("not an object")
    }
    return object
}

func read(_ buffer: ByteBuffer, _ format: MultiStatusFormat = .json, _ collection: ResourceCollection = .sources) throws -> ReceivedMultiStatus {
    try MultiStatusReader.read(Array(buffer.readableBytesView), format: format, collection: collection)
}

/// A loopback TCP listener that accepts connections and does nothing with them: a stand-in cache.
struct ServerSocket {
    let channel: any Channel
    var port: Int { self.channel.localAddress!.port! }

    static func listen() async throws -> ServerSocket {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        return ServerSocket(channel: channel)
    }

    func close() { self.channel.close(promise: nil) }
}

/// Starts the real `multistatus serve` executable and waits for its listen line.
/// - Returns: the process and the base URL it printed.
/// - Parameter errors: where the process's standard error goes; nowhere by default.
func startServeProcess(_ arguments: [String], environment: [String: String] = [:], errors: FileHandle = .nullDevice) async throws -> (
    ChildProcess, String
) {
    let process = ChildProcess()
    process.executableURL = ServeCommandTests.executable
    process.arguments = ["serve"] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // A server that never gets to listen is stopped, so that its test fails instead of hanging.
    let watchdog = Task {
        try await Task.sleep(for: .seconds(120))
        if process.isRunning { process.terminate() }
    }
    defer { watchdog.cancel() }
    // Reading the pipe blocks: it runs on the tests' own pool, not on the threads in-process servers need.
    let line = try await testBlockingPool.runIfActive {
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return (process, line)
}

/// Sends a JSON batch; the 207 read as `collection`, or the problem of a whole-request failure.
func sendBatch(
    _ client: some TestClientProtocol,
    _ method: HTTPRequest.Method,
    _ uri: String,
    _ body: String,
    headers: HTTPFields = [:],
    collection: ResourceCollection
) async throws -> (status: HTTPResponse.Status, body: ReceivedMultiStatus?, problem: [String: Any]?, headers: HTTPFields) {
    var allHeaders = headers
    allHeaders[.contentType] = allHeaders[.contentType] ?? "application/json"
    return try await client.execute(uri: uri, method: method, headers: allHeaders, body: ByteBuffer(string: body)) { response in
        if response.headers[.contentType] == "application/problem+json" {
            return (response.status, nil, try json(response.body), response.headers)
        }
        return (response.status, try read(response.body, .json, collection), nil, response.headers)
    }
}

/// Runs the `multistatus` executable to completion.
/// - Returns: its exit status, standard output and standard error.
func runCommand(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
    try await runProgram(ServeCommandTests.executable.path, arguments, environment: environment)
}

/// Runs the program at `path` to completion.
/// - Returns: its exit status, standard output and standard error.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (
    status: Int32, output: String, errors: String
) {
    try await withTemporaryDirectory { folder in
        // Standard error goes to a file: two pipes read one after the other could fill and block the process.
        let errorPath = folder + "/stderr"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer { try? errors.close() }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (status, text) = try await testBlockingPool.runIfActive {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        return (status, text, (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }
}

/// Threads for the tests' blocking waits (child processes, raw sockets). The server does its file I/O on
/// NIO's shared pool; blocking that pool from a test would stall the server under test.
let testBlockingPool: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 16)
    pool.start()
    return pool
}()

extension HTTPFields {
    /// The fields of both, `lhs`'s first.
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var fields = lhs
        fields.append(contentsOf: rhs)
        return fields
    }
}
