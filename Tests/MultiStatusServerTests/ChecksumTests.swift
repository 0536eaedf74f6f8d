import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// Uploads keep what the client knows: each file's SHA-256 is checked (RFC 9530 `Content-Digest`,
/// ownCloud's `OC-Checksum`, the JSON form's `sha256`) and answered on the way out as
/// `Repr-Digest`, and its modification time is kept (`X-OC-Mtime`, `Last-Modified`, `mtime`).
@Suite struct ChecksumTests {
    private static func digestField(_ bytes: [UInt8]) -> String {
        "sha-256=:" + Data(SHA256.hash(data: bytes)).base64EncodedString() + ":"
    }

    private static func modified(_ path: String) throws -> Double {
        (try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
    }

    private static func head(_ client: some TestClientProtocol, _ uri: String) async throws -> HTTPFields {
        try await client.execute(uri: uri, method: .head) { $0.headers }
    }

    @Test func multipartFilesAreCheckedAndKeepTheirTimes() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            let (a, b, c, d, e) = (randomBytes(70_000), file("b"), file("c"), file("d"), file("e"))
            let body = MultipartBody([
                .init(filename: "a.bin", fields: [("Content-Digest", Self.digestField(a)), ("X-OC-Mtime", "1700000000")], content: a),
                .init(filename: "b.txt", fields: [("OC-Checksum", "SHA256:" + String(repeating: "ab", count: 32))], content: b),
                .init(filename: "c.txt", fields: [("Content-Digest", "sha-256=:not base64:")], content: c),
                .init(
                    filename: "d.txt",
                    fields: [("OC-Checksum", "SHA1:0000 SHA256:" + sha256Hex(d)), ("Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT")], content: d),
                .init(filename: "e.txt", fields: [("Content-Digest", Self.digestField(e)), ("OC-Checksum", "SHA256:" + sha256Hex(d))], content: e),
            ])
            let result = try await client.execute(uri: "/upload", method: .post, headers: [.contentType: body.contentType], body: body.buffer) {
                try read($0.body, .json, .files)
            }
            #expect(result.items.map(\.status.code) == [201, 400, 400, 201, 400])
            #expect(result.items[1].problem?.type == "urn:x-multistatus:problem:checksum-mismatch")
            #expect(result.items[1].problem?.detail?.contains(sha256Hex(b)) == true)
            #expect(result.items[4].problem?.detail == "the file's checksums disagree")
            #expect(filesOnDisk(files) == ["a.bin", "d.txt"])
            #expect(try Self.modified(files + "/a.bin") == 1_700_000_000)
            #expect(try Self.modified(files + "/d.txt") == 1_700_000_000)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)

            // On the way out: the digest, and the time, on GET and HEAD, for /files/ and /dav/.
            for uri in ["/files/a.bin", "/dav/a.bin"] {
                let headers = try await Self.head(client, uri)
                #expect(headers[.init("Repr-Digest")!] == Self.digestField(a), "\(uri)")
                #expect(headers[.lastModified] == "Tue, 14 Nov 2023 22:13:20 GMT", "\(uri)")
                #expect(headers[.eTag] == result.items[0].etag, "\(uri)")
            }
            let got = try await client.execute(uri: "/files/d.txt", method: .get) { $0.headers }
            #expect(got[.init("Repr-Digest")!] == Self.digestField(d))
            // A copy has the same bytes, and so the same digest.
            let copied = try await sendBatch(
                client, .post, "/file-operations", #"[{"op": "copy", "path": "a.bin", "to": "copy.bin"}]"#,
                collection: ResourceCollection(key: "operations", identifierKey: "path", hrefPrefix: "/files/"))
            #expect(try #require(copied.body).items.map(\.status.code) == [201])
            #expect(try await Self.head(client, "/files/copy.bin")[.init("Repr-Digest")!] == Self.digestField(a))
        }
    }

    @Test func aMismatchInTheMiddleOfTwentyFilesRefusesThatFileAlone() async throws {
        try await withServer { client, configuration in
            let contents = (0..<20).map { randomBytes(1000 + $0 * 5000) }
            let body = MultipartBody(
                contents.enumerated().map { index, bytes in
                    let claimed = index == 10 ? Array("something else".utf8) : bytes
                    return .init(filename: "f\(index).bin", fields: [("Content-Digest", Self.digestField(claimed))], content: bytes)
                })
            let items = try await client.execute(uri: "/upload", method: .post, headers: [.contentType: body.contentType], body: body.buffer) {
                try read($0.body, .json, .files).items
            }
            #expect(items.map(\.status.code) == (0..<20).map { $0 == 10 ? 400 : 201 })
            #expect(filesOnDisk(configuration.dataDirectory + "/files") == Set((0..<20).filter { $0 != 10 }.map { "f\($0).bin" }))
            for (index, bytes) in contents.enumerated() where index != 10 {
                #expect(try await Self.head(client, "/files/f\(index).bin")[.init("Repr-Digest")!] == Self.digestField(bytes), "f\(index).bin")
            }
        }
    }

    @Test func theJSONFormCarriesSHA256AndMtime() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            let content = Array("hello".utf8)
            let entries = [
                #"{"filename": "good.txt", "content": "aGVsbG8=", "sha256": "\#(sha256Hex(content))", "mtime": 1600000000.5}"#,
                #"{"filename": "bad.txt", "content": "aGVsbG8=", "sha256": "\#(String(repeating: "0", count: 64))"}"#,
                #"{"filename": "short.txt", "content": "aGVsbG8=", "sha256": "abc"}"#,
                #"{"filename": "time.txt", "content": "aGVsbG8=", "mtime": "yesterday"}"#,
            ]
            let result = try await sendBatch(client, .post, "/upload", #"{"files": [\#(entries.joined(separator: ","))]}"#, collection: .files)
            #expect(try #require(result.body).items.map(\.status.code) == [201, 400, 400, 400])
            #expect(filesOnDisk(files) == ["good.txt"])
            #expect(try Self.modified(files + "/good.txt") == 1_600_000_000.5)
            #expect(try await Self.head(client, "/files/good.txt")[.init("Repr-Digest")!] == Self.digestField(content))
        }
    }

    @Test(arguments: [100, 400_000])
    func webDAVPutChecksTheChecksumItIsGiven(size: Int) async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            let bytes = randomBytes(size)
            let body = String(decoding: bytes.map { $0 % 26 + 97 }, as: UTF8.self)
            let wrong = try await dav(
                client, .put, "/dav/x.txt", headers: [.init("Content-Digest")!: Self.digestField(Array("other".utf8))], body: body)
            #expect(wrong.status == .badRequest)
            #expect(try json(wrong.body)["type"] as? String == "urn:x-multistatus:problem:checksum-mismatch")
            #expect(!FileManager.default.fileExists(atPath: files + "/x.txt"))
            let right = try await dav(
                client, .put, "/dav/x.txt", headers: [.init("OC-Checksum")!: "SHA256:" + sha256Hex(Array(body.utf8))], body: body)
            #expect(right.status == .created)
            #expect(try await Self.head(client, "/dav/x.txt")[.init("Repr-Digest")!] == Self.digestField(Array(body.utf8)))
            // A PUT without a checksum replaces the file, and the digest of the old bytes is gone with them.
            #expect(try await dav(client, .put, "/dav/x.txt", body: "plain").status == .noContent)
            #expect(try await Self.head(client, "/dav/x.txt")[.init("Repr-Digest")!] == nil)
        }
    }

    /// Times far out are refused or ignored, never a crash: the schemathesis run found a JSON
    /// `mtime` past 2262, where nanoseconds no longer fit in 64 bits, trapping the server.
    @Test func timesBeyondWhatTheFileSystemKeepsAreRefusedOrIgnored() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            let far =
                #"{"files": [{"filename": "far.txt", "content": "aGk=", "mtime": 66670061537.5}, {"filename": "ok.txt", "content": "aGk=", "mtime": 8999999998}]}"#
            let result = try await sendBatch(client, .post, "/upload", far, collection: .files)
            #expect(try #require(result.body).items.map(\.status.code) == [400, 201])
            let part = MultipartBody([.init(filename: "p.txt", fields: [("X-OC-Mtime", "1e300")], content: file("p"))])
            let parts = try await client.execute(uri: "/upload", method: .post, headers: [.contentType: part.contentType], body: part.buffer) {
                try read($0.body, .json, .files).items.map(\.status.code)
            }
            #expect(parts == [400])
            for value in ["inf", "nan", "1e300", "-5"] {
                let put = try await dav(client, .put, "/dav/t.txt", headers: [.init("X-OC-Mtime")!: value], body: "t")
                #expect(put.status == .created || put.status == .noContent, "X-OC-Mtime: \(value)")
            }
            // A file that another tool dated past 2262 is listed and served all the same.
            let dated = files + "/dated.txt"
            try Data("d".utf8).write(to: URL(fileURLWithPath: dated))
            var times = [timespec(tv_sec: 10_000_000_000, tv_nsec: 0), timespec(tv_sec: 10_000_000_000, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, dated, &times, 0) == 0)
            #expect(try await client.execute(uri: "/files/dated.txt", method: .get) { $0.status } == .ok)
            #expect(try await client.execute(uri: "/files/", method: .get) { $0.status } == .ok)
        }
    }
}
