import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// Requests as a hostile client sends them: each is refused with a precise 4xx, nothing is stored,
/// and the server goes on answering.
@Suite struct RobustnessTests {
    /// Sends `request` on a new connection and returns the whole answer (the server closes after a framing error).
    private func exchange(_ port: Int, _ request: String) async throws -> (status: Int, text: String) {
        let connection = try RawConnection(port: port)
        try await connection.send(Array(request.utf8))
        let text = try await connection.receive(until: "\"}")
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, text)
    }

    @Test func brokenFramingIsA400AndStoresNothing() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let port = client.port!
            let authorization = "Authorization: " + TestAccount.writer.headers[.authorization]!
            func request(_ target: String, _ headers: String, _ body: String) -> String {
                "PUT \(target) HTTP/1.1\r\nHost: localhost\r\n\(authorization)\r\n\(headers)\r\n\(body)"
            }
            let cases: [(name: String, request: String, status: Int)] = [
                ("bad chunk size", request("/dav/a.txt", "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"), 400),
                ("chunk longer than its size", request("/dav/b.txt", "Transfer-Encoding: chunked\r\n", "5\r\nhelloXX\r\n0\r\n\r\n"), 400),
                ("huge chunk size", request("/dav/c.txt", "Transfer-Encoding: chunked\r\n", "fffffffffffffffffff\r\nx\r\n0\r\n\r\n"), 400),
                (
                    "Content-Length and Transfer-Encoding",
                    request("/dav/d.txt", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400
                ),
                ("negative Content-Length", request("/dav/e.txt", "Content-Length: -5\r\n", "hello"), 400),
                ("two Content-Lengths", request("/dav/f.txt", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400),
                ("a list as Content-Length", request("/dav/g.txt", "Content-Length: 5, 5\r\n", "hello"), 400),
                ("gzip transfer coding", request("/dav/h.txt", "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501),
            ]
            for (name, raw, status) in cases {
                let answer = try await self.exchange(port, raw)
                #expect(answer.status == status, "\(name): \(answer.text)")
            }
            // The chunked upload endpoint too: a malformed chunk in a multipart body.
            let upload =
                "POST /upload HTTP/1.1\r\nHost: localhost\r\n\(authorization)\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n20\r\n--b\r\nContent-Disposition: form-data; fil\r\nzz\r\n"
            let answer = try await self.exchange(port, upload)
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.text.contains("application/problem+json"))
            #expect(answer.text.contains("urn:x-multistatus:problem:bad-framing"))

            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/files").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)
            let alive = try await client.execute(uri: "/livez", method: .get)
            #expect(alive.status == .ok)
        }
    }

    /// The PROPFIND that used to kill the process: an element name of invalid UTF-8. Every XML method is tried.
    @Test func xmlOfInvalidUTF8IsA400AndTheServerLives() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let headers = TestAccount.writer.headers
            #expect(try await dav(client, .put, "/dav/kept.txt", headers: headers, body: "kept").status == .created)
            let namespace = Array(#"xmlns:D="DAV:""#.utf8)
            let bodies: [(HTTPRequest.Method, [UInt8])] = [
                (
                    .propfind,
                    Array("<D:propfind ".utf8) + namespace + Array("><D:prop><".utf8) + [0xFF, 0xFE] + Array("/></D:prop></D:propfind>".utf8)
                ),
                (
                    .proppatch,
                    Array("<D:propertyupdate ".utf8) + namespace + Array("><D:set><D:prop><x".utf8) + [0xC3]
                        + Array(">v</x></D:prop></D:set></D:propertyupdate>".utf8)
                ),
                (
                    .lock,
                    Array("<D:lockinfo ".utf8) + namespace + Array("><D:owner>".utf8) + [0xED, 0xA0, 0x80] + Array("</D:owner></D:lockinfo>".utf8)
                ),
                (.propfind, [0xFF, 0xFE] + Array("<\0a\0/\0>\0".utf8)),
            ]
            func fields(_ base: HTTPFields, _ more: HTTPFields) -> HTTPFields { base + more }
            for (method, body) in bodies {
                let response = try await client.execute(
                    uri: "/dav/kept.txt", method: method, headers: fields(headers, [.depth: "0"]), body: ByteBuffer(bytes: body))
                #expect(response.status == .badRequest, "\(method)")
                #expect(response.headers[.contentType] == "application/problem+json")
                let detail = try JSONValue.parse(response.body.readableBytesView).objectMembers["detail"]?.stringValue ?? ""
                #expect(detail.contains("UTF"), "\(detail)")
            }
            // Nothing changed: no lock, no property, the file as it was.
            let after = try await dav(client, .propfind, "/dav/kept.txt", headers: fields(headers, [.depth: "0"]))
            let text = String(buffer: after.body)
            #expect(after.status == .multiStatus)
            #expect(!text.contains("<D:activelock>"))
            #expect(try String(contentsOfFile: configuration.dataDirectory + "/files/kept.txt", encoding: .utf8) == "kept")
        }
    }

    /// A header name byte of 0x80 or more (multipart-kit, used before, trapped on one; the fuzzer found it) is a 400.
    @Test func aMultipartHeaderNameThatIsNotASCIIIsA400() async throws {
        try await withAccountsServer([.writer]) { client, configuration, _, _ in
            let body =
                Array("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nfirst\r\n--b\r\nConten".utf8) + [0x96]
                + Array("-Disposition: form-data; filename=\"b.txt\"\r\n\r\nsecond\r\n--b--\r\n".utf8)
            var headers = TestAccount.writer.headers
            headers[.contentType] = "multipart/form-data; boundary=b"
            let response = try await client.execute(uri: "/upload", method: .post, headers: headers, body: ByteBuffer(bytes: body))
            #expect(response.status == .badRequest)
            let detail = try JSONValue.parse(response.body.readableBytesView).objectMembers["detail"]?.stringValue ?? ""
            #expect(detail.contains("header name is not ASCII"), "\(detail)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/files").isEmpty)
            // A header value may hold UTF-8: a browser sends a filename that way.
            let utf8 = Array("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"é.txt\"\r\n\r\nok\r\n--b--\r\n".utf8)
            let accepted = try await client.execute(uri: "/upload", method: .post, headers: headers, body: ByteBuffer(bytes: utf8))
            #expect(accepted.status == .multiStatus)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/files") == ["é.txt"])
        }
    }
}
