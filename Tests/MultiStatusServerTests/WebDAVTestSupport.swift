import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import NIOPosix
import Testing

/// A command-line tool the WebDAV tests drive (litmus, rclone, cadaver), installed by scripts/test.
struct ExternalTool {
    let path: String

    /// The tool on `PATH`; the test fails when it is missing.
    init(_ name: String) throws {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/sbin", "/usr/bin"]
        let found = folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        self.path = try #require(found, "\(name) is not installed: run the tests through scripts/test, which installs it")
    }

    /// The Python that scripts/test installed the tests' PyPI packages into (`MULTISTATUS_TEST_PYTHON`).
    static func python() throws -> ExternalTool {
        guard let path = ProcessInfo.processInfo.environment["MULTISTATUS_TEST_PYTHON"] else { return try ExternalTool("python3") }
        return ExternalTool(path: path)
    }

    /// The tool at `path`.
    init(path: String) { self.path = path }

    /// Runs the tool to completion; waiting happens on NIO's thread pool, never on a cooperative thread.
    /// A tool still running after `timeout` is stopped, so that a hung tool fails its test instead of
    /// holding up the whole run.
    func run(
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        in directory: String,
        timeout: Duration = .seconds(300)
    ) async throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: self.path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        // Loopback only: no proxy from the environment may come between the tool and the server.
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }
        env["no_proxy"] = "*"
        env["NO_PROXY"] = "*"
        process.environment = env.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            if process.isRunning { process.terminate() }
        }
        defer { watchdog.cancel() }
        return try await testBlockingPool.runIfActive {
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try? stdin.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}

extension HTTPRequest.Method {
    static let propfind = Self("PROPFIND")!
    static let proppatch = Self("PROPPATCH")!
    static let mkcol = Self("MKCOL")!
    static let copy = Self("COPY")!
    static let move = Self("MOVE")!
    static let lock = Self("LOCK")!
    static let unlock = Self("UNLOCK")!
}

extension HTTPField.Name {
    static let depth = Self("Depth")!
    static let destination = Self("Destination")!
    static let davIf = Self("If")!
    static let lockToken = Self("Lock-Token")!
    static let overwrite = Self("Overwrite")!
}

/// One `<D:response>` of a PROPFIND answer: its href and, per property `{ns}name`, status and XML value.
struct PropfindEntry {
    var href: String
    var properties: [String: (status: Int, text: String)]
}

/// Reads a WebDAV multi-status body with the core library's reader.
func propfindEntries(_ body: ByteBuffer) throws -> [PropfindEntry] {
    try MultiStatusReader.readDAV(body.readableBytesView).map { response in
        var properties: [String: (Int, String)] = [:]
        for group in response.propertyStatus {
            for property in group.properties { properties[property.name.description] = (group.status.code, property.xml) }
        }
        return PropfindEntry(href: response.href, properties: properties)
    }
}

/// Sends one WebDAV request through the test client.
func dav(
    _ client: some TestClientProtocol,
    _ method: HTTPRequest.Method,
    _ uri: String,
    headers: HTTPFields = [:],
    body: String = ""
) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer) {
    try await client.execute(uri: uri, method: method, headers: headers, body: body.isEmpty ? nil : ByteBuffer(string: body)) { response in
        (response.status, response.headers, response.body)
    }
}
