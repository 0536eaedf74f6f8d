import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@Suite struct UploadDurabilityTests {
    /// Starts `multistatus serve` on a free port with `dataDir`; returns the process and its base URL.
    private func startServer(dataDir: String) async throws -> (ChildProcess, String) {
        let (process, line) = try await startServeProcess(["--port", "0", "--data-dir", dataDir, "--log-level", "error"])
        return (process, line.components(separatedBy: " ").last ?? "")
    }

    @Test func sigkillMidUploadLeavesNoPartialFile() async throws {
        try await withTemporaryDirectory { dataDir in
            let (server, base) = try await self.startServer(dataDir: dataDir)
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
            let port = try #require(URLComponents(string: base)?.port)

            // A 64 MiB file, of which only the first 8 MiB arrive before the server dies.
            let body = MultipartBody([.init(filename: "big.bin", content: [])])
            let head = Array(
                "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(64 << 20)\r\n\r\n".utf8)
            let partHead = Array("--\(body.boundary)\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n\r\n".utf8)
            let connection = Task { try await sendRawAndDisconnect(port: port, head + partHead + randomBytes(8 << 20), pause: .seconds(30)) }
            let staging = dataDir + "/tmp/uploads"
            #expect(try await eventually(timeout: .seconds(20)) { !filesOnDisk(staging).isEmpty }, "the upload was being staged")

            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            connection.cancel()
            #expect(server.terminationReason == .uncaughtSignal)
            #expect(filesOnDisk(dataDir + "/files").isEmpty, "no partial file is visible")

            let (restarted, newBase) = try await self.startServer(dataDir: dataDir)
            defer { restarted.terminate(); restarted.waitUntilExit() }
            #expect(filesOnDisk(staging).isEmpty, "staged leftovers are swept at start")
            let listing = try await HTTPClient.shared.execute(HTTPClientRequest(url: newBase + "/files/"), timeout: .seconds(10))
            #expect(listing.status == .ok)
            let text = String(buffer: try await listing.body.collect(upTo: 1 << 20))
            #expect(text == #"{"path":"","entries":[]}"#)

            var upload = HTTPClientRequest(url: newBase + "/upload")
            upload.method = .POST
            let small = MultipartBody([.init(filename: "after.txt", content: file("works"))])
            upload.headers.add(name: "Content-Type", value: small.contentType)
            upload.body = .bytes(small.bytes)
            let response = try await HTTPClient.shared.execute(upload, timeout: .seconds(10))
            #expect(response.status.code == 207)
            #expect(filesOnDisk(dataDir + "/files") == ["after.txt"])
        }
    }

    /// Two processes may share a data folder: one starting sweeps only staged files no running
    /// process owns, never another's upload in flight.
    @Test func aStartingProcessLeavesAnotherProcesssUploadInFlightAlone() async throws {
        try await withTemporaryDirectory { dataDir in
            let (first, base) = try await self.startServer(dataDir: dataDir)
            defer { first.terminate(); first.waitUntilExit() }
            let port = try #require(URLComponents(string: base)?.port)
            let content = randomBytes(4 << 20)
            let body = MultipartBody([.init(filename: "slow.bin", content: content)])
            let connection = try RawConnection(port: port)
            let head = "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(body.bytes.count)\r\n\r\n"
            // Past the first MiB of the file, which is when its staged file is created.
            try await connection.send(Array(head.utf8) + body.bytes.prefix(2 << 20))
            let staging = dataDir + "/tmp/uploads"
            #expect(try await eventually(timeout: .seconds(20)) { !filesOnDisk(staging).isEmpty }, "the upload is being staged")
            let inFlight = filesOnDisk(staging)

            let (second, _) = try await self.startServer(dataDir: dataDir)
            defer { second.terminate(); second.waitUntilExit() }
            #expect(inFlight.isSubset(of: filesOnDisk(staging)), "the second process removed the first one's staged file")

            try await connection.send(Array(body.bytes.dropFirst(2 << 20)))
            let answer = try await connection.receive(until: "\"summary\"")
            #expect(answer.hasPrefix("HTTP/1.1 207 Multi-Status\r\n"))
            #expect(FileManager.default.contents(atPath: dataDir + "/files/slow.bin") == Data(content))
        }
    }

    @Test func fiftyConcurrentRequestsOfTwentyFilesEach() async throws {
        try await withServer { client, configuration in
            let base = "http://127.0.0.1:\(client.port!)"
            let expected = try await withThrowingTaskGroup(of: [String: String].self) { group in
                for request in 0..<50 {
                    group.addTask {
                        var contents: [String: String] = [:]
                        let parts = (0..<20).map { index -> MultipartBody.Part in
                            let bytes = randomBytes(Int.random(in: 0...40_000))
                            let name = "r\(request)-f\(index).bin"
                            contents["batch/\(name)"] = sha256Hex(bytes)
                            return .init(filename: name, content: bytes)
                        }
                        let body = MultipartBody(parts)
                        var upload = HTTPClientRequest(url: base + "/upload?dir=batch&parents=true")
                        upload.method = .POST
                        upload.headers.add(name: "Content-Type", value: body.contentType)
                        upload.body = .bytes(body.bytes)
                        let response = try await HTTPClient.shared.execute(upload, timeout: .seconds(60))
                        let received = try MultiStatusReader.read(
                            Array(buffer: try await response.body.collect(upTo: 1 << 20)), format: .json, collection: .files
                        )
                        #expect(response.status.code == 207)
                        #expect(received.items.allSatisfy { $0.status == .created })
                        #expect(received.items.count == 20)
                        return contents
                    }
                }
                return try await group.reduce(into: [String: String]()) { $0.merge($1) { a, _ in a } }
            }
            let stored = filesOnDisk(configuration.dataDirectory + "/files")
            #expect(stored.count == 1_000)
            #expect(Set(expected.keys) == stored)
            for (path, digest) in expected {
                let data = try Data(contentsOf: URL(fileURLWithPath: configuration.dataDirectory + "/files/" + path))
                #expect(sha256Hex(data) == digest, "\(path)")
            }
        }
    }
}
