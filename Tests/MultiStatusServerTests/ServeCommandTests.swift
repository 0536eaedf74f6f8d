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

    @Test func aBadFlagIsRefusedWithAMessage() throws {
        let process = Process()
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
