import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

/// ZIPs out: `GET /files/{folder}/?archive=zip` and `POST /archives`, streamed, read back by Python's
/// `zipfile` (and so by any reader that follows the format).
@Suite struct ArchiveTests {
    /// Python reads `archive` with `zipfile`, checks every CRC, and lists each entry as `name size sha256`.
    private static let reader = """
        import hashlib, sys, zipfile
        with zipfile.ZipFile(sys.argv[1]) as archive:
            bad = archive.testzip()
            if bad: sys.exit("bad CRC: " + bad)
            for info in archive.infolist():
                digest = hashlib.sha256()
                with archive.open(info) as entry:
                    while chunk := entry.read(1 << 20): digest.update(chunk)
                print(info.filename, info.file_size, digest.hexdigest())
        """

    /// What Python reads from the ZIP at `path`: entry name → "size sha256".
    private static func entries(of path: String, in folder: String) async throws -> [String: String] {
        try Data(Self.reader.utf8).write(to: URL(fileURLWithPath: folder + "/read.py"))
        let (status, output) = try await ExternalTool.python().run(["read.py", path], in: folder)
        #expect(status == 0, "\(output)")
        var entries: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count >= 3 else { continue }
            entries[parts.dropLast(2).joined(separator: " ")] = parts.suffix(2).joined(separator: " ")
        }
        return entries
    }

    /// Downloads `url` (GET, or POST with a JSON body) to `file` with curl; the status.
    private static func download(_ url: String, to file: String, post body: String? = nil, in folder: String) async throws -> Int {
        var arguments = ["-s", "-o", file, "-w", "%{http_code}", url]
        if let body { arguments += ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body] }
        let (_, output) = try await ExternalTool("curl").run(arguments, in: folder)
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test func aFolderOf2000FilesAndOneOf300MiBReadsBackWhileMemoryStaysFlat() async throws {
        try await withTemporaryDirectory { folder in
            let data = folder + "/data"
            let files = data + "/files/photos"
            try FileManager.default.createDirectory(atPath: files + "/many", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: files + "/empty", withIntermediateDirectories: true)
            var expected: [String: String] = [
                "photos/": "0 " + sha256Hex([]), "photos/many/": "0 " + sha256Hex([]), "photos/empty/": "0 " + sha256Hex([]),
            ]
            for index in 0..<2000 {
                let bytes = randomBytes(index % 7 * 300)
                try Data(bytes).write(to: URL(fileURLWithPath: "\(files)/many/f\(index).bin"))
                expected["photos/many/f\(index).bin"] = "\(bytes.count) \(sha256Hex(bytes))"
            }
            // 300 MiB: one random MiB, written again and again, each time with its own first bytes.
            let block = randomBytes(1 << 20)
            let big = FileHandle(
                forWritingAtPath: {
                    FileManager.default.createFile(atPath: files + "/big.bin", contents: nil); return files + "/big.bin"
                }())!
            var whole = Crypto.SHA256()
            for index in 0..<300 {
                var chunk = block
                withUnsafeBytes(of: UInt32(index)) { chunk.replaceSubrange(0..<4, with: $0) }
                big.write(Data(chunk))
                whole.update(data: chunk)
            }
            try big.close()
            expected["photos/big.bin"] = "\(300 << 20) " + whole.finalize().map { String(format: "%02x", $0) }.joined()

            let (server, line) = try await startServeProcess(["--port", "0", "--data-dir", data, "--log-level", "error"])
            defer {
                server.terminate()
                server.waitUntilExit()
            }
            let base = try #require(line.components(separatedBy: " ").last)
            #expect(try await Self.download(base + "/files/photos/?archive=zip", to: "photos.zip", in: folder) == 200)
            let peak = try String(contentsOfFile: "/proc/\(server.processIdentifier)/status", encoding: .utf8)
                .split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
                .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
            #expect(try #require(peak) < 100 << 10, "peak RSS \(peak ?? 0) KiB")
            let read = try await Self.entries(of: "photos.zip", in: folder)
            #expect(read.count == expected.count)
            #expect(read == expected)
        }
    }

    @Test func chosenPathsComeOutUnderTheirPathsAndUnreadableOnesAreListed() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            for (path, content) in [("a.txt", "A"), ("docs/b.txt", "B"), ("docs/deep/c.txt", "C"), ("secret.txt", "S")] {
                try FileManager.default.createDirectory(
                    atPath: (files + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(content.utf8).write(to: URL(fileURLWithPath: files + "/" + path))
            }
            // A file the server process may not read: its entry is missing, and the manifest says why.
            chmod(files + "/secret.txt", 0)
            defer { chmod(files + "/secret.txt", 0o644) }
            let readable = access(files + "/secret.txt", R_OK) == 0  // root reads anything
            let body = #"{"paths": ["a.txt", "docs", "docs/deep/c.txt", "secret.txt"]}"#
            let zip = try await client.execute(
                uri: "/archives", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/zip")
                return Data(buffer: response.body)
            }
            try zip.write(to: URL(fileURLWithPath: configuration.dataDirectory + "/chosen.zip"))
            let read = try await Self.entries(of: "chosen.zip", in: configuration.dataDirectory)
            var names: Set<String> = ["a.txt", "docs/", "docs/b.txt", "docs/deep/", "docs/deep/c.txt"]
            names.insert(readable ? "secret.txt" : "MANIFEST-ERRORS.json")
            #expect(Set(read.keys) == names)
            #expect(read["docs/deep/c.txt"] == "1 " + sha256Hex(Array("C".utf8)))

            // Deflated on request: the same entries, each compressed, read back whole.
            let deflatedBody = ByteBuffer(string: #"{"paths": ["a.txt", "docs"], "compression": "deflate"}"#)
            let deflated = try await client.execute(uri: "/archives", method: .post, headers: [.contentType: "application/json"], body: deflatedBody)
            {
                Data(buffer: $0.body)
            }
            try deflated.write(to: URL(fileURLWithPath: configuration.dataDirectory + "/deflated.zip"))
            let inflated = try await Self.entries(of: "deflated.zip", in: configuration.dataDirectory)
            #expect(inflated == read.filter { !$0.key.hasPrefix("secret") && !$0.key.hasPrefix("MANIFEST") })
            let (_, methods) = try await ExternalTool.python().run(
                ["-c", "import zipfile; print(sorted({i.compress_type for i in zipfile.ZipFile('deflated.zip').infolist() if not i.is_dir()}))"],
                in: configuration.dataDirectory)
            #expect(methods.trimmingCharacters(in: .whitespacesAndNewlines) == "[8]")
            let unknown = try await sendBatch(client, .post, "/archives", #"{"paths": ["a.txt"], "compression": "lzma"}"#, collection: .files)
            #expect(unknown.status == .badRequest)

            // Not there, or not a path: refused before any byte.
            let missing = try await sendBatch(client, .post, "/archives", #"{"paths": ["a.txt", "nope.txt"]}"#, collection: .files)
            #expect(missing.status == .notFound)
            #expect(missing.problem?["missing"] as? [String] == ["nope.txt"])
            let bad = try await sendBatch(client, .post, "/archives", #"{"paths": ["../x"]}"#, collection: .files)
            #expect(bad.status == .badRequest)
            let none = try await sendBatch(client, .post, "/archives", #"{"paths": []}"#, collection: .files)
            #expect(none.status == .badRequest)
            #expect(try await client.execute(uri: "/files/docs/?archive=tar", method: .get) { $0.status } == .badRequest)
        }
    }

    /// The status line is out before a file is read: a file cut short while it streams keeps the
    /// bytes read, the archive stays whole, and the manifest names the file.
    @Test func aFileCutShortWhileItStreamsIsNamedInTheManifest() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            try Data(randomBytes(64 << 20)).write(to: URL(fileURLWithPath: files + "/big.bin"))
            try Data("small".utf8).write(to: URL(fileURLWithPath: files + "/small.txt"))
            // Read the first bytes, then cut the file on disk, then read the rest: the server, held
            // back by the socket, reads the part after the cut only then.
            let script = """
                import http.client, os, sys
                connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
                connection.request("POST", "/archives", body='{"paths": ["big.bin", "small.txt"]}', headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                assert response.status == 200, response.status
                first = response.read(1 << 16)
                os.truncate(sys.argv[2], 1 << 20)
                with open("cut.zip", "wb") as out:
                    out.write(first)
                    while chunk := response.read(1 << 20): out.write(chunk)
                """
            try Data(script.utf8).write(to: URL(fileURLWithPath: configuration.dataDirectory + "/cut.py"))
            let (status, output) = try await ExternalTool.python().run(
                ["cut.py", String(client.port!), files + "/big.bin"], in: configuration.dataDirectory)
            #expect(status == 0, "\(output)")
            let read = try await Self.entries(of: "cut.zip", in: configuration.dataDirectory)
            #expect(Set(read.keys) == ["big.bin", "small.txt", "MANIFEST-ERRORS.json"])
            let size = try #require(read["big.bin"].flatMap { Int($0.split(separator: " ")[0]) })
            #expect(size >= 1 << 16 && size < 64 << 20, "\(size) bytes of big.bin")
            let (_, manifest) = try await ExternalTool.python().run(
                ["-c", "import zipfile, sys; print(zipfile.ZipFile('cut.zip').read('MANIFEST-ERRORS.json').decode())"],
                in: configuration.dataDirectory)
            let listed = try JSONSerialization.jsonObject(with: Data(manifest.utf8)) as? [[String: String]]
            #expect(listed == [["path": "big.bin", "error": "reading it failed after \(size) bytes; the entry holds those"]], "\(manifest)")
        }
    }

    @Test func archivesAreReadsForEveryAccountInItsOwnRoot() async throws {
        let alice = TestAccount(name: "alice", password: "a-pass", permission: "read", root: "alice")
        let bob = TestAccount(name: "bob", password: "b-pass", permission: "write", root: "bob")
        try await withAccountsServer([alice, bob]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            try Data("alice's".utf8).write(to: URL(fileURLWithPath: files + "/alice/mine.txt"))
            try Data("bob's".utf8).write(to: URL(fileURLWithPath: files + "/bob/secret.txt"))
            let body = ByteBuffer(string: #"{"paths": ["mine.txt"]}"#)
            #expect(
                try await client.execute(uri: "/archives", method: .post, headers: [.contentType: "application/json"], body: body) { $0.status }
                    == .unauthorized)
            // A read account may archive what it may read, and only that.
            let own = try await client.execute(
                uri: "/archives", method: .post, headers: alice.headers.merging([.contentType: "application/json"]), body: body
            ) { ($0.status, Data(buffer: $0.body)) }
            #expect(own.0 == .ok)
            try own.1.write(to: URL(fileURLWithPath: configuration.dataDirectory + "/own.zip"))
            #expect(try await Self.entries(of: "own.zip", in: configuration.dataDirectory) == ["mine.txt": "7 " + sha256Hex(Array("alice's".utf8))])
            let other = try await client.execute(
                uri: "/archives", method: .post, headers: alice.headers.merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"paths": ["../bob/secret.txt"]}"#)
            ) { $0.status }
            #expect(other == .badRequest)
            let whole = try await client.execute(uri: "/files/?archive=zip", method: .get, headers: alice.headers) { Data(buffer: $0.body) }
            try whole.write(to: URL(fileURLWithPath: configuration.dataDirectory + "/whole.zip"))
            #expect(try await Self.entries(of: "whole.zip", in: configuration.dataDirectory).keys.sorted() == ["mine.txt"])
        }
    }
}
