import AsyncHTTPClient
import Foundation
import Testing

/// Runs the real `multistatus serve` executable, as a user would.
@Suite struct ServeCommandTests {
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["MULTISTATUS_BIN"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("multistatus")
    }

    @Test func servePrintsItsAddressAnswersAndStopsOnSIGTERM() async throws {
        try await withTemporaryDirectory { dataDir in
            let (process, text) = try await startServeProcess(["--port", "0"], environment: ["MULTISTATUS_DATA_DIR": dataDir])
            defer { if process.isRunning { process.terminate() } }
            let url = try #require(text.components(separatedBy: " ").last, "no listen line: \(text)")
            #expect(text.hasPrefix("MultiStatus listening on http://127.0.0.1:"))

            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/check-statuses"), timeout: .seconds(10))
            #expect(response.status.code == 207)
            // The environment variable chose the data folder.
            #expect(FileManager.default.fileExists(atPath: dataDir + "/multistatus.sqlite"))

            process.terminate()
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
        }
    }

    /// SIGTERM stops accepting, lets the request in flight finish, then exits 0.
    @Test func sigtermLetsARequestInFlightFinish() async throws {
        try await withTemporaryDirectory { dataDir in
            let (process, text) = try await startServeProcess(["--port", "0", "--data-dir", dataDir])
            defer { if process.isRunning { process.terminate() } }
            let port = try #require(text.split(separator: ":").last.flatMap { Int($0) }, "no listen line: \(text)")
            let body = Array("in flight".utf8)
            let connection = try RawConnection(port: port)
            try await connection.send(
                Array("PUT /dav/late.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body[..<3])
            // Time for the head to be read, so that the signal finds the request waiting for its body.
            try await Task.sleep(for: .milliseconds(300))
            process.terminate()
            try await connection.send(Array(body[3...]))
            let answer = try await connection.receive(until: "\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
            #expect(FileManager.default.contents(atPath: dataDir + "/files/late.txt") == Data(body))
        }
    }

    @Test func aBadFlagIsRefusedWithAMessage() throws {
        let process = ChildProcess()
        process.executableURL = Self.executable
        process.arguments = ["serve", "--check", "Cache=ftp://x"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("scheme ftp is not http, https or tcp"))
    }
}
