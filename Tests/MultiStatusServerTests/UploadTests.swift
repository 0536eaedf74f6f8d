import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

private func upload(
    _ client: some TestClientProtocol,
    _ body: MultipartBody,
    query: String = "",
    headers: HTTPFields = [:]
) async throws -> (status: HTTPResponse.Status, body: ReceivedMultiStatus?, raw: ByteBuffer) {
    var fields = headers
    fields[.contentType] = body.contentType
    return try await client.execute(uri: "/upload" + query, method: .post, headers: fields, body: body.buffer) { response in
        let parsed =
            response.status == .multiStatus || response.status.code < 300 || response.headers[.contentType]?.hasPrefix("application/json") == true
            ? try? read(response.body, .json, .files) : nil
        return (response.status, parsed, response.body)
    }
}

private func filesDir(_ configuration: ServerConfiguration) -> String { configuration.dataDirectory + "/files" }
private func stagingDir(_ configuration: ServerConfiguration) -> String { configuration.dataDirectory + "/tmp/uploads" }

@Suite struct UploadTests {
    /// An upload retried under its `Idempotency-Key` is replayed, not stored twice, though a client
    /// frames it with a new boundary and the store now holds its files: the fingerprint is what the
    /// request carries. Another file under the key is refused, and nothing of it is staged.
    @Test func anIdempotentUploadReplaysUnderANewBoundary() async throws {
        try await withServer { client, configuration in
            let key: HTTPFields = [.init("Idempotency-Key")!: "u-1"]
            let parts: [MultipartBody.Part] = [.init(filename: "one.txt", content: file("1")), .init(filename: "../up.txt", content: file("2"))]
            let first = try await upload(client, MultipartBody(parts), headers: key)
            #expect(first.body?.items.map(\.status.code) == [201, 400])
            let retry = try await upload(client, MultipartBody(parts), headers: key)
            #expect(retry.status == .multiStatus)
            #expect(String(buffer: retry.raw) == String(buffer: first.raw))
            let other = try await upload(client, MultipartBody([.init(filename: "one.txt", content: file("changed"))]), headers: key)
            #expect(other.status == .unprocessableContent)
            #expect(try String(contentsOfFile: filesDir(configuration) + "/one.txt", encoding: .utf8) == "1")
            #expect(try FileManager.default.contentsOfDirectory(atPath: stagingDir(configuration)).isEmpty)
        }
    }

    @Test func seedExchange() async throws {
        try await withServer { client, configuration in
            let one = randomBytes(3_000)
            let three = randomBytes(70_000)
            let body = MultipartBody([
                .init(filename: "file1.txt", content: one),
                .init(filename: "../file2.txt", content: file("never stored")),
                .init(filename: "file3.txt", content: three),
            ])
            let result = try await upload(client, body)
            #expect(result.status == .multiStatus)
            let items = try #require(result.body).items
            #expect(items.map(\.id) == ["file1.txt", "../file2.txt", "file3.txt"])
            #expect(items.map(\.status.code) == [201, 400, 201])
            #expect(items[0].location == "/files/file1.txt")
            #expect(items[0].fields["size"] == .int(3_000))
            #expect(items[0].fields["sha256"] == .string(sha256Hex(one)))
            #expect(items[1].problem?.detail == "file name must not be \".\" or \"..\"")
            #expect(try #require(result.body).summary == Summary(total: 3, succeeded: 2, failed: 1))

            #expect(filesOnDisk(filesDir(configuration)) == ["file1.txt", "file3.txt"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: filesDir(configuration) + "/file1.txt")) == Data(one))
            #expect(try Data(contentsOf: URL(fileURLWithPath: filesDir(configuration) + "/file3.txt")) == Data(three))
            #expect(filesOnDisk(stagingDir(configuration)).isEmpty)
        }
    }

    @Test(arguments: [
        ("", "must not be empty"), (".", "must not be \".\" or \"..\""), ("..", "must not be \".\" or \"..\""),
        ("a\\b.txt", "must not contain '\\'"), ("a\u{0}b", "must not contain NUL"), ("a\u{1}b", "must not contain control characters"),
        (String(repeating: "x", count: 256), "must be at most 255 bytes (is 256)"), ("../../etc/passwd", "must not be \".\" or \"..\""),
        ("/etc/passwd", "\"/etc/passwd\" has an empty folder name (a leading, trailing or double '/')"),
        ("photo\u{202E}gnp.exe", "must not contain bidirectional controls (U+202A–U+202E, U+2066–U+2069), which disguise a name"),
        ("\u{2067}x.txt", "must not contain bidirectional controls (U+202A–U+202E, U+2066–U+2069), which disguise a name"),
    ])
    func badNamesAre400(name: String, reason: String) async throws {
        try await withServer { client, configuration in
            let result = try await upload(
                client, MultipartBody([.init(filename: name, content: file("x")), .init(filename: "ok.txt", content: file("y"))]))
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [400, 201])
            #expect(items[0].problem?.detail == "file name \(reason)")
            #expect(filesOnDisk(filesDir(configuration)) == ["ok.txt"])
        }
    }

    /// Names are stored in NFC: an NFD name (as macOS sends it) is stored composed, finds the
    /// composed file, and cannot make a second file that only differs in normalization.
    @Test func namesAreStoredInNFC() async throws {
        try await withServer { client, configuration in
            let decomposed = "Cafe\u{301} n\u{303}.txt"
            let composed = "Café ñ.txt"
            #expect(Array(decomposed.utf8) != Array(composed.utf8))
            let first = try await upload(client, MultipartBody([.init(filename: decomposed, content: file("nfd"))]))
            #expect(first.body?.items.first?.status == .created)
            let stored = try FileManager.default.contentsOfDirectory(atPath: filesDir(configuration))
            #expect(stored.map { Array($0.utf8) } == [Array(composed.utf8)])
            let second = try await upload(client, MultipartBody([.init(filename: composed, content: file("nfc"))]))
            #expect(second.body?.items.first?.status == .conflict)
            for name in [decomposed, composed] {
                try await client.execute(uri: "/files/" + PercentEncoding.encodePath(name), method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "nfd")
                }
            }
        }
    }

    @Test func invalidUTF8NameIs400() async throws {
        try await withServer { client, configuration in
            let result = try await upload(client, MultipartBody([.init(rawFilename: [0x61, 0xFF, 0xFE, 0x62], content: file("x"))]))
            #expect(result.status == .multiStatus)
            #expect(try #require(result.body).items.map(\.status.code) == [400])
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
        }
    }

    @Test func existingFileIs409AndOverwriteReplacesIt() async throws {
        try await withServer { client, configuration in
            _ = try await upload(client, MultipartBody([.init(filename: "a.txt", content: file("first"))]))
            let again = try await upload(client, MultipartBody([.init(filename: "a.txt", content: file("second"))]))
            #expect(try #require(again.body).items.map(\.status.code) == [409])
            #expect(try String(contentsOfFile: filesDir(configuration) + "/a.txt", encoding: .utf8) == "first")

            let replaced = try await upload(client, MultipartBody([.init(filename: "a.txt", content: file("third"))]), query: "?overwrite=true")
            let item = try #require(replaced.body?.items.first)
            #expect(item.status == .ok)
            #expect(item.message == "Replaced")
            #expect(try String(contentsOfFile: filesDir(configuration) + "/a.txt", encoding: .utf8) == "third")
        }
    }

    @Test func sameNameTwiceInOneRequestRefusesTheSecond() async throws {
        try await withServer { client, configuration in
            let result = try await upload(
                client, MultipartBody([.init(filename: "a.txt", content: file("one")), .init(filename: "a.txt", content: file("two"))]))
            #expect(try #require(result.body).items.map(\.status.code) == [201, 409])
            #expect(try String(contentsOfFile: filesDir(configuration) + "/a.txt", encoding: .utf8) == "one")
        }
    }

    @Test func fileOverTheLimitByOneByteIs413AndLeavesNothing() async throws {
        try await withServer {
            $0.limits.bytesPerFile = 10
        } _: { client, configuration in
            let result = try await upload(
                client,
                MultipartBody([.init(filename: "ten.bin", content: randomBytes(10)), .init(filename: "eleven.bin", content: randomBytes(11))])
            )
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [201, 413])
            #expect(items[1].problem?.extensions["limit"] == .int(10))
            #expect(filesOnDisk(filesDir(configuration)) == ["ten.bin"])
            #expect(filesOnDisk(stagingDir(configuration)).isEmpty)
        }
    }

    @Test func typeOutsideTheAllowListIs415() async throws {
        try await withServer {
            $0.limits.allowedTypes = ["image/*", "text/plain"]
        } _: { client, configuration in
            let result = try await upload(
                client,
                MultipartBody([
                    .init(filename: "a.png", contentType: "image/png", content: randomBytes(8)),
                    .init(filename: "b.exe", contentType: "application/x-msdownload", content: randomBytes(8)),
                    .init(filename: "c.txt", content: file("by extension")),
                ])
            )
            #expect(try #require(result.body).items.map(\.status.code) == [201, 415, 201])
            #expect(filesOnDisk(filesDir(configuration)) == ["a.png", "c.txt"])
        }
    }

    @Test func quotaExceededIs507() async throws {
        try await withServer {
            $0.limits.storeQuotaBytes = 100
        } _: { client, configuration in
            let result = try await upload(
                client,
                MultipartBody([.init(filename: "a.bin", content: randomBytes(60)), .init(filename: "b.bin", content: randomBytes(60))])
            )
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [201, 507])
            #expect(filesOnDisk(filesDir(configuration)) == ["a.bin"])
        }
    }

    @Test func uploadIntoAFolder() async throws {
        try await withServer { client, configuration in
            // A folder that does not exist is each file's 409, unless parents=true makes it.
            let missing = try await upload(client, MultipartBody([.init(filename: "n.txt", content: file("nested"))]), query: "?dir=a/b%20c")
            #expect(missing.body?.items.map(\.status.code) == [409])
            #expect(missing.body?.items.first?.problem?.detail?.contains("parents=true") == true)
            #expect(!FileManager.default.fileExists(atPath: filesDir(configuration) + "/a"))
            let result = try await upload(
                client, MultipartBody([.init(filename: "n.txt", content: file("nested"))]), query: "?dir=a/b%20c&parents=true")
            #expect(result.body?.items.first?.location == "/files/a/b%20c/n.txt")
            #expect(try String(contentsOfFile: filesDir(configuration) + "/a/b c/n.txt", encoding: .utf8) == "nested")
        }
    }

    /// A browser sends a dropped folder's files with their relative paths as names: each segment is
    /// a name, checked as one; the folders are made with parents=true, and are a 409 without it.
    @Test func aFileNameMayCarryItsFolders() async throws {
        try await withServer { client, configuration in
            let names = ["photos/2026/a.jpg", "photos/b.jpg", "photos/../c.jpg", "/d.jpg", "photos//e.jpg", "photos/f.jpg/", "photos\\g.jpg"]
            let parts = MultipartBody(names.map { .init(filename: $0, content: file("bytes of " + $0)) })
            let without = try await upload(client, parts)
            #expect(without.body?.items.map(\.status.code) == [409, 409, 400, 400, 400, 400, 400])
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
            let with = try await upload(client, parts, query: "?parents=true")
            #expect(with.body?.items.map(\.status.code) == [201, 201, 400, 400, 400, 400, 400])
            #expect(with.body?.items.map(\.id) == names.map { .string($0) })
            #expect(with.body?.items.first?.location == "/files/photos/2026/a.jpg")
            #expect(filesOnDisk(filesDir(configuration)) == ["photos/2026/a.jpg", "photos/b.jpg"])
            #expect(try String(contentsOfFile: filesDir(configuration) + "/photos/2026/a.jpg", encoding: .utf8) == "bytes of photos/2026/a.jpg")
        }
    }

    @Test(arguments: ["?dir=../..", "?dir=/etc", "?dir=a/../../x", "?dir=%2e%2e", "?overwrite=yes"])
    func hostileQueryIs400AndWritesNothing(query: String) async throws {
        try await withServer { client, configuration in
            // What the server wrote at start (its database, its staging lock) stays; nothing is added.
            let written = { filesOnDisk(configuration.dataDirectory).filter { !$0.hasPrefix("multistatus.sqlite") } }
            let before = written()
            let result = try await upload(client, MultipartBody([.init(filename: "x.txt", content: file("x"))]), query: query)
            #expect(result.status == .badRequest)
            #expect(written() == before)
            #expect(filesOnDisk(configuration.dataDirectory + "/files").isEmpty)
        }
    }

    @Test func atomicUploadStoresNothingWhenOneFileFails() async throws {
        try await withServer { client, configuration in
            let body = MultipartBody([.init(filename: "a.txt", content: file("a")), .init(filename: "..", content: file("b"))])
            let result = try await client.execute(
                uri: "/upload", method: .post, headers: [.contentType: body.contentType, .prefer: "atomic"], body: body.buffer
            ) { ($0.status, try read($0.body, .json, .files)) }
            #expect(result.0 == .badRequest)
            #expect(result.1.items.map(\.status.code) == [424, 400])
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
        }
    }

    /// A failure found only at commit (here the quota, counted as files go in) undoes what was placed.
    @Test func atomicUploadUndoesPlacedFilesWhenALaterOneFailsAtCommit() async throws {
        try await withServer {
            $0.limits.storeQuotaBytes = 100
        } _: { client, configuration in
            let atomic: HTTPFields = [.prefer: "atomic"]
            let fresh = MultipartBody([.init(filename: "a.bin", content: randomBytes(60)), .init(filename: "b.bin", content: randomBytes(60))])
            let first = try await upload(client, fresh, headers: atomic)
            #expect(first.status == .insufficientStorage)
            #expect(try #require(first.body).items.map(\.status.code) == [424, 507])
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
            try await client.execute(uri: "/files/a.bin", method: .get) { #expect($0.status == .notFound) }

            // A replaced file comes back as it was, and the quota counts it again.
            let old = randomBytes(30)
            #expect(try await upload(client, MultipartBody([.init(filename: "a.bin", content: old)])).status == .multiStatus)
            let replacing = MultipartBody([.init(filename: "a.bin", content: randomBytes(50)), .init(filename: "c.bin", content: randomBytes(60))])
            let second = try await upload(client, replacing, query: "?overwrite=true", headers: atomic)
            #expect(try #require(second.body).items.map(\.status.code) == [424, 507])
            #expect(filesOnDisk(filesDir(configuration)) == ["a.bin"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: filesDir(configuration) + "/a.bin")) == Data(old))
            #expect(try await eventually { filesOnDisk(stagingDir(configuration)).isEmpty })
            // 30 bytes are used: 70 still fit.
            #expect(
                try await upload(client, MultipartBody([.init(filename: "d.bin", content: randomBytes(70))])).body?.items.first?.status == .created)
        }
    }

    /// A client that goes away during an atomic upload has none of its files stored, complete or not.
    @Test func atomicUploadCutOffStoresNothing() async throws {
        let logs = CapturedLogs()
        try await withServer({ _ in }, logger: logs.logger()) { client, configuration in
            let body = MultipartBody([
                .init(filename: "complete.bin", content: randomBytes(5_000)), .init(filename: "partial.bin", content: randomBytes(200_000)),
            ])
            let bytes = body.bytes
            let head = Array(
                "POST /upload HTTP/1.1\r\nHost: localhost\r\nPrefer: atomic\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(bytes.count)\r\n\r\n"
                    .utf8)
            try await sendRawAndDisconnect(port: client.port!, head + bytes[..<(bytes.count - 100_000)])
            #expect(try await eventually { logs.records.withLock { $0.contains { $0.message == "upload interrupted" } } })
            #expect(try await eventually { filesOnDisk(stagingDir(configuration)).isEmpty })
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
        }
    }

    /// Two uploads of one new name at once: one is created, the other refused, and the file is one of them whole.
    @Test func concurrentUploadsOfOneNameGiveOne201AndOne409() async throws {
        try await withServer { client, configuration in
            let base = "http://127.0.0.1:\(client.port!)"
            for round in 0..<10 {
                let contents = [randomBytes(20_000), randomBytes(20_000)]
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for content in contents {
                        group.addTask {
                            let body = MultipartBody([.init(filename: "same-\(round).bin", content: content)])
                            var request = HTTPClientRequest(url: base + "/upload")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: body.contentType)
                            request.body = .bytes(body.buffer)
                            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                            let report = try read(try await response.body.collect(upTo: 1 << 20), .json, .files)
                            return report.items[0].status.code
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.sorted() == [201, 409], "round \(round)")
                let stored = try Data(contentsOf: URL(fileURLWithPath: filesDir(configuration) + "/same-\(round).bin"))
                #expect(contents.map { Data($0) }.contains(stored))
            }
        }
    }

    @Test func jsonUpload() async throws {
        try await withServer { client, configuration in
            let body =
                #"{"files": [{"filename": "a.txt", "content": "aGVsbG8=", "contentType": "text/plain"}, {"filename": "b.txt", "content": "%%%"}, {"filename": 5, "content": ""}, {"filename": "c.txt", "content": 7}]}"#
            try await client.execute(uri: "/upload", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) {
                response in
                #expect(response.status == .multiStatus)
                let items = try read(response.body, .json, .files).items
                #expect(items.map(\.status.code) == [201, 400, 400, 400])
                #expect(items[1].problem?.detail == "\"content\" is not valid base64")
                #expect(items[2].id == "files[2]")
                #expect(items[3].problem?.detail == "\"content\" must be a base64 string")
            }
            #expect(try String(contentsOfFile: filesDir(configuration) + "/a.txt", encoding: .utf8) == "hello")
            #expect(filesOnDisk(filesDir(configuration)) == ["a.txt"])
        }
    }
}

@Suite struct UploadRequestFailureTests {
    private func expectProblem(_ client: some TestClientProtocol, contentType: String?, body: ByteBuffer, status: HTTPResponse.Status) async throws {
        var headers: HTTPFields = [:]
        if let contentType { headers[.contentType] = contentType }
        try await client.execute(uri: "/upload", method: .post, headers: headers, body: body) { response in
            #expect(response.status == status)
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try json(response.body)
            #expect(problem["status"] as? Int == status.code)
        }
    }

    @Test func wrongContentTypeIs415() async throws {
        try await withServer { client, _ in
            try await expectProblem(client, contentType: "text/plain", body: ByteBuffer(string: "hi"), status: .unsupportedMediaType)
            try await expectProblem(client, contentType: nil, body: ByteBuffer(string: "hi"), status: .unsupportedMediaType)
        }
    }

    @Test func malformedBodiesAre400() async throws {
        try await withServer { client, configuration in
            try await expectProblem(client, contentType: "multipart/form-data", body: ByteBuffer(string: "x"), status: .badRequest)
            try await expectProblem(
                client, contentType: "multipart/form-data; boundary=abc", body: ByteBuffer(string: "no parts at all"), status: .badRequest)
            try await expectProblem(client, contentType: "application/json", body: ByteBuffer(string: "{not json"), status: .badRequest)
            try await expectProblem(client, contentType: "application/json", body: ByteBuffer(string: #"{"files": {}}"#), status: .badRequest)
            try await expectProblem(client, contentType: "application/json", body: ByteBuffer(string: #"[1, 2]"#), status: .badRequest)
            try await expectProblem(client, contentType: "application/json", body: ByteBuffer(string: #"{"files": []}"#), status: .badRequest)
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
        }
    }

    @Test func oneFileMoreThanAllowedIs413AndStoresNothing() async throws {
        try await withServer {
            $0.limits.filesPerRequest = 2
        } _: { client, configuration in
            let two = MultipartBody([.init(filename: "a", content: file("a")), .init(filename: "b", content: file("b"))])
            try await client.execute(uri: "/upload", method: .post, headers: [.contentType: two.contentType], body: two.buffer) { response in
                #expect(response.status == .multiStatus)
            }
            let three = MultipartBody([
                .init(filename: "c", content: file("c")), .init(filename: "d", content: file("d")), .init(filename: "e", content: file("e")),
            ])
            try await expectProblem(client, contentType: three.contentType, body: three.buffer, status: .contentTooLarge)
            let json = #"{"files": [{"filename": "f", "content": ""}, {"filename": "g", "content": ""}, {"filename": "h", "content": ""}]}"#
            try await expectProblem(client, contentType: "application/json", body: ByteBuffer(string: json), status: .contentTooLarge)
            #expect(filesOnDisk(filesDir(configuration)) == ["a", "b"])
            #expect(filesOnDisk(stagingDir(configuration)).isEmpty)
        }
    }

    @Test func bodyOverTheRequestLimitIs413AndStoresNothing() async throws {
        let body = MultipartBody([.init(filename: "a", content: randomBytes(1_000)), .init(filename: "b", content: randomBytes(1_000))])
        try await withServer {
            $0.limits.bytesPerRequest = body.bytes.count - 1
        } _: { client, configuration in
            try await expectProblem(client, contentType: body.contentType, body: body.buffer, status: .contentTooLarge)
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
            #expect(filesOnDisk(stagingDir(configuration)).isEmpty)
        }
    }

    @Test func truncatedBodyKeepsTheCompleteFilesOnly() async throws {
        try await withServer { client, configuration in
            let complete = randomBytes(5_000)
            let body = MultipartBody([
                .init(filename: "complete.bin", content: complete), .init(filename: "partial.bin", content: randomBytes(200_000)),
            ])
            let bytes = body.bytes
            let cut = bytes.count - 100_000
            let head = Array(
                "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8)
            try await sendRawAndDisconnect(port: client.port!, head + bytes[..<cut])
            #expect(try await eventually { filesOnDisk(filesDir(configuration)) == ["complete.bin"] })
            #expect(try Data(contentsOf: URL(fileURLWithPath: filesDir(configuration) + "/complete.bin")) == Data(complete))
            #expect(try await eventually { filesOnDisk(stagingDir(configuration)).isEmpty })
            // The server is still up.
            try await client.execute(uri: "/livez", method: .get) { #expect($0.status == .ok) }
        }
    }
}

@Suite struct FileAccessTests {
    @Test func getHeadDeleteWithValidatorsAndRanges() async throws {
        try await withServer { client, configuration in
            let content = randomBytes(1_000)
            let uploaded = try await upload(client, MultipartBody([.init(filename: "data.json", content: content)]))
            let etag = try await client.execute(uri: "/files/data.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Array(response.body.readableBytesView) == content)
                #expect(response.headers[.contentLength] == "1000")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.lastModified]?.hasSuffix(" GMT") == true)
                return try #require(response.headers[.eTag])
            }
            #expect(uploaded.body?.items.first?.etag == etag, "the upload reports the ETag the file is served with")
            try await client.execute(uri: "/files/data.json", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentLength] == "1000")
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/files/data.json", method: .get, headers: [.range: "bytes=10-19"]) { response in
                #expect(response.status == .partialContent)
                #expect(Array(response.body.readableBytesView) == Array(content[10...19]))
                #expect(response.headers[.contentRange] == "bytes 10-19/1000")
            }
            try await client.execute(uri: "/files/data.json", method: .get, headers: [.range: "bytes=-5"]) { response in
                #expect(Array(response.body.readableBytesView) == Array(content[995...]))
            }
            try await client.execute(uri: "/files/data.json", method: .get, headers: [.range: "bytes=1000-"]) { response in
                #expect(response.status == .rangeNotSatisfiable)
                #expect(response.headers[.contentRange] == "bytes */1000")
            }
            try await client.execute(uri: "/files/data.json", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
            }
            try await client.execute(uri: "/files/data.json", method: .delete, headers: [.ifMatch: "\"stale\""]) { response in
                #expect(response.status == .preconditionFailed)
            }
            try await client.execute(uri: "/files/data.json", method: .delete) { #expect($0.status == .noContent) }
            #expect(filesOnDisk(filesDir(configuration)).isEmpty)
            try await client.execute(uri: "/files/data.json", method: .delete) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/files/data.json", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test(arguments: [
        "/files/..%2f..%2fetc%2fpasswd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/a/%2e%2e/%2e%2e/etc/passwd", "/files/%00", "/files/..%5c..%5cetc",
    ])
    func traversalNeverReadsOutsideTheStore(uri: String) async throws {
        try await withServer { client, _ in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test func folderListing() async throws {
        try await withServer { client, _ in
            _ = try await upload(client, MultipartBody([.init(filename: "x y.txt", content: file("1"))]), query: "?dir=d&parents=true")
            try await client.execute(uri: "/files/d", method: .get) { response in
                let body = try json(response.body)
                let entries = try #require(body["entries"] as? [[String: Any]])
                #expect(entries.map { $0["name"] as? String } == ["x y.txt"])
                #expect(entries.first?["location"] as? String == "/files/d/x%20y.txt")
            }
        }
    }

    @Test func aLongFolderListingHasEveryEntryOnce() async throws {
        try await withServer { client, configuration in
            // More entries than one batch of the folder read, and a subfolder.
            let folder = configuration.dataDirectory + "/files/many"
            try FileManager.default.createDirectory(atPath: folder + "/sub folder", withIntermediateDirectories: true)
            for index in 0..<2_500 {
                _ = FileManager.default.createFile(atPath: folder + "/f\(index).txt", contents: Data(repeating: 0x61, count: index % 7))
            }
            try await client.execute(uri: "/files/many/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let body = try json(response.body)
                #expect(body["path"] as? String == "many")
                let entries = try #require(body["entries"] as? [[String: Any]])
                #expect(entries.count == 2_501)
                let byName = Dictionary(entries.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
                #expect(byName.count == 2_501, "each entry listed once")
                #expect(byName["f9.txt"]?["size"] as? Int == 2)
                #expect(byName["f9.txt"]?["type"] as? String == "file")
                #expect(byName["sub folder"]?["type"] as? String == "folder")
                #expect(byName["sub folder"]?["location"] as? String == "/files/many/sub%20folder/")
            }
            try await client.execute(uri: "/files/many/", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
        }
    }
}

@Suite struct ExpectContinueTests {
    @Test func uploadWithExpectGets100ContinueBeforeTheBody() async throws {
        try await withServer { client, configuration in
            let body = MultipartBody([.init(filename: "e.txt", content: file("expected"))])
            let connection = try RawConnection(port: client.port!)
            try await connection.send(
                Array(
                    "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(body.bytes.count)\r\nExpect: 100-continue\r\n\r\n"
                        .utf8))
            let interim = try await connection.receive(until: "\r\n\r\n")
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"))
            try await connection.send(body.bytes)
            let final = try await connection.receive(until: "\"summary\"")
            #expect(final.hasPrefix("HTTP/1.1 207 Multi-Status\r\n"))
            #expect(try String(contentsOfFile: configuration.dataDirectory + "/files/e.txt", encoding: .utf8) == "expected")
        }
    }

    @Test func bodyOverTheLimitGetsNo100But413() async throws {
        try await withServer {
            $0.limits.bytesPerRequest = 1_000
        } _: { client, _ in
            let connection = try RawConnection(port: client.port!)
            try await connection.send(
                Array(
                    "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n"
                        .utf8))
            let answer = try await connection.receive(until: "\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 413 "))
        }
    }
}
