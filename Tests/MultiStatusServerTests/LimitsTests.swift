import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// Every limit of `/limits` that guards the server against a client, crossed over a socket: each
/// answered with its status and a problem body, nothing stored, and the server still answering.
@Suite struct LimitsTests {
    private let authorization = "Authorization: " + TestAccount.writer.headers[.authorization]!

    /// The status of a raw answer and its problem body's `detail`.
    private func parse(_ text: String) -> (status: Int, detail: String?) {
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        let detail = (try? JSONValue.parse(Array(body.utf8))).flatMap { value -> String? in
            guard case .object(let members) = value, case .string(let detail)? = members["detail"] else { return nil }
            return detail
        }
        return (status, detail)
    }

    @Test func requestHeadsOverTheLimitsAre431() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let limits = configuration.limits
            let manyFields = (0...limits.headerFields).map { "X-Field-\($0): v\r\n" }.joined()
            let longField = "X-Long: " + String(repeating: "a", count: limits.headerBytes) + "\r\n"
            for (name, fields) in [("too many fields", manyFields), ("too many bytes", longField)] {
                let connection = try RawConnection(port: client.port!)
                try await connection.send(Array("GET /limits HTTP/1.1\r\nHost: localhost\r\n\(self.authorization)\r\n\(fields)\r\n".utf8))
                let answer = try await connection.receiveToEnd()
                let (status, detail) = self.parse(answer.text)
                #expect(status == 431, "\(name): \(answer.text.prefix(300))")
                #expect(answer.text.contains("application/problem+json"), "\(name)")
                #expect(detail?.contains("\(limits.headerFields) fields") == true, "\(name): \(detail ?? "")")
                #expect(answer.closed, "\(name): the connection is closed after a 431")
            }
            // Just under the limits is served.
            let fine = (1..<limits.headerFields - 3).map { "X-Field-\($0): v\r\n" }.joined()
            let connection = try RawConnection(port: client.port!)
            try await connection.send(
                Array("GET /limits HTTP/1.1\r\nHost: localhost\r\n\(self.authorization)\r\n\(fine)Connection: close\r\n\r\n".utf8))
            #expect(self.parse(try await connection.receiveToEnd().text).status == 200)
        }
    }

    @Test func multipartPartHeadersOverTheLimitsAre413() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let limits = configuration.limits
            let boundary = "limit-boundary"
            let manyFields = (0..<limits.partHeaderFields).map { "X-Part-\($0): v\r\n" }.joined()
            let longField = "X-Long: " + String(repeating: "b", count: limits.partHeaderBytes) + "\r\n"
            for (name, extra, limit) in [
                ("too many fields", manyFields, limits.partHeaderFields), ("too many bytes", longField, limits.partHeaderBytes),
            ] {
                let body =
                    "--\(boundary)\r\nContent-Disposition: form-data; name=\"files\"; filename=\"ok.txt\"\r\n\r\nfine\r\n"
                    + "--\(boundary)\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n\(extra)\r\nx\r\n--\(boundary)--\r\n"
                var headers = TestAccount.writer.headers
                headers[.contentType] = "multipart/form-data; boundary=\(boundary)"
                let answer = try await client.execute(uri: "/upload?atomic=true", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                    ($0.status, String(buffer: $0.body))
                }
                #expect(answer.0 == .contentTooLarge, "\(name): \(answer)")
                #expect(answer.1.contains("\"limit\":\(limit)"), "\(name): \(answer.1)")
            }
            #expect(filesOnDisk(configuration.dataDirectory + "/files").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)
        }
    }

    @Test func rangeSetsAreJoinedAndCappedWith416() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let headers = TestAccount.writer.headers
            let content = String((0..<1_000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            #expect(try await dav(client, .put, "/dav/r.txt", headers: headers, body: content).status == .created)
            func get(_ range: String) async throws -> (HTTPResponse.Status, HTTPFields, String) {
                var fields = headers
                fields[.range] = range
                return try await client.execute(uri: "/files/r.txt", method: .get, headers: fields) {
                    ($0.status, $0.headers, String(buffer: $0.body))
                }
            }
            // Overlapping and adjacent ranges join into one.
            let joined = try await get("bytes=10-19, 15-29,30-39")
            #expect(joined.0 == .partialContent)
            #expect(joined.1[.contentRange] == "bytes 10-39/1000")
            #expect(joined.2 == String(content.dropFirst(10).prefix(30)))
            // Two apart: the whole file, as no multipart/byteranges is served.
            let apart = try await get("bytes=0-0,500-500")
            #expect(apart.0 == .ok && apart.2 == content)
            // More separate ranges than the cap: 416 with a problem naming it.
            let cap = configuration.limits.rangesPerRequest
            let many = "bytes=" + (0...cap).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")
            let refused = try await get(many)
            #expect(refused.0 == .rangeNotSatisfiable)
            #expect(refused.1[.contentRange] == "bytes */1000")
            #expect(refused.2.contains("\"limit\":\(cap)"), "\(refused.2)")
            // Many that join into one are served.
            let overlapping = "bytes=" + (0...cap).map { "\($0)-\($0 + 5)" }.joined(separator: ",")
            #expect(try await get(overlapping).1[.contentRange] == "bytes 0-\(cap + 5)/1000")
        }
    }

    @Test func ifHeadersOverTheLimitsAre400() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let limits = configuration.limits
            var headers = TestAccount.writer.headers
            #expect(try await dav(client, .put, "/dav/kept.txt", headers: headers, body: "kept").status == .created)
            let lists = String(repeating: "(<urn:uuid:00000000-0000-0000-0000-000000000000>) ", count: limits.ifHeaderLists + 1)
            let long = "(<urn:uuid:" + String(repeating: "0", count: limits.ifHeaderBytes) + ">)"
            for (name, value, limit) in [("too many lists", lists, limits.ifHeaderLists), ("too long", long, limits.ifHeaderBytes)] {
                headers[.davIf] = value
                let answer = try await dav(client, .put, "/dav/kept.txt", headers: headers, body: "replaced")
                #expect(answer.status == .badRequest, "\(name)")
                #expect(String(buffer: answer.body).contains("\"limit\":\(limit)"), "\(name): \(String(buffer: answer.body))")
            }
            let file = try String(contentsOfFile: configuration.dataDirectory + "/files/kept.txt", encoding: .utf8)
            #expect(file == "kept")
        }
    }

    @Test func slowAndIdleBodiesAreCutWith408() async throws {
        try await withAccountsServer(
            [.writer],
            {
                // Long enough that a loaded machine still delivers some of the trickle in each window
                // (with 1.5 s, a trickle once stalled that long on a loaded machine and read as idle).
                $0.limits.bodyTimeoutMs = 4_000
                $0.limits.bodyMinimumBytesPerSecond = 1_000
            }
        ) { client, configuration, _, _ in
            let head = { (path: String, length: Int) in
                "PUT /dav/\(path) HTTP/1.1\r\nHost: localhost\r\n\(self.authorization)\r\nContent-Length: \(length)\r\n\r\n"
            }
            // One byte every 50 ms: 20 bytes a second, a fiftieth of the minimum.
            let slow = try RawConnection(port: client.port!)
            try await slow.send(Array(head("slow.txt", 4_000).utf8))
            let trickle = Task {
                for _ in 0..<400 {
                    try await slow.send([UInt8(ascii: "s")])
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let slowAnswer = try await slow.receive(until: "\"}")
            trickle.cancel()
            #expect(self.parse(slowAnswer).status == 408, "\(slowAnswer)")
            #expect(slowAnswer.lowercased().contains("connection: close"))
            #expect(self.parse(slowAnswer).detail?.contains("under 1000 bytes a second") == true, "\(slowAnswer)")

            // Half a body, more than the minimum rate asks for in a window, then nothing.
            let idle = try RawConnection(port: client.port!)
            try await idle.send(Array(head("idle.txt", 20_000).utf8) + [UInt8](repeating: UInt8(ascii: "i"), count: 10_000))
            let idleAnswer = try await idle.receiveToEnd()
            #expect(self.parse(idleAnswer.text).status == 408, "\(idleAnswer.text)")
            #expect(self.parse(idleAnswer.text).detail?.contains("sent nothing") == true, "\(idleAnswer.text)")
            #expect(idleAnswer.closed)

            // A body sent at once is not cut, and neither file above was stored.
            let whole = try await dav(client, .put, "/dav/whole.txt", headers: TestAccount.writer.headers, body: String(repeating: "w", count: 4000))
            #expect(whole.status == .created)
            #expect(filesOnDisk(configuration.dataDirectory + "/files") == ["whole.txt"])
        }
    }

    @Test func idleConnectionsAndSlowHeadsAreClosed() async throws {
        try await withAccountsServer([.writer], { $0.limits.idleTimeoutMs = 300 }) { client, _, _, _ in
            let idle = try RawConnection(port: client.port!)
            #expect(try await idle.receiveToEnd().closed, "a connection that sends nothing is closed")
            // A head sent one byte at a time, each well inside the idle time: the whole head must come in time.
            let slow = try RawConnection(port: client.port!)
            let sending = Task {
                for byte in Array("GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Slow: \(String(repeating: "z", count: 200))\r\n\r\n".utf8) {
                    try await slow.send([byte])
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let answer = try await slow.receiveToEnd()
            sending.cancel()
            #expect(answer.closed)
            #expect(!answer.text.contains("200 OK"), "\(answer.text)")
        }
    }

    @Test func connectionsOverTheCapAre503WithRetryAfter() async throws {
        try await withAccountsServer([.writer], { $0.limits.connections = 2 }) { client, _, _, _ in
            let port = client.port!
            // The test client holds one connection of its own; one more fills the cap.
            #expect(try await client.execute(uri: "/livez", method: .get) { $0.status } == .ok)
            let second = try RawConnection(port: port)
            try await second.send(Array("GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            #expect(try await second.receive(until: "\r\n\r\n").contains("200 OK"))

            let third = try RawConnection(port: port)
            try await third.send(Array("GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            let refused = try await third.receiveToEnd()
            #expect(self.parse(refused.text).status == 503, "\(refused.text)")
            #expect(refused.text.contains("Retry-After: 1"))
            #expect(self.parse(refused.text).detail?.contains("2 connections") == true)

            // Once one closes, a new connection is served again.
            _ = consume second
            var served = false
            for _ in 0..<50 where !served {
                let next = try RawConnection(port: port)
                try await next.send(Array("GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
                served = try await next.receiveToEnd().text.contains("200 OK")
                if !served { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(served)
        }
    }

    @Test func limitsListsEveryGuard() async throws {
        try await withAccountsServer([.writer]) { client, _, _, _ in
            let text = try await client.execute(uri: "/limits", method: .get, headers: TestAccount.writer.headers) { String(buffer: $0.body) }
            for key in [
                "headerFields", "headerBytes", "partHeaderFields", "partHeaderBytes", "rangesPerRequest", "ifHeaderBytes", "ifHeaderLists",
                "idleTimeoutMs", "bodyTimeoutMs", "bodyMinimumBytesPerSecond", "connections",
            ] {
                #expect(text.contains("\"\(key)\""), "\(key) in \(text)")
            }
        }
    }
}
