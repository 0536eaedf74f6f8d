import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// A folder outside the data folder, reached from inside the store only through links planted by
/// the test: `files/link` (a folder link), `files/file-link.txt` (a file link), `files/real/inner`
/// (a link inside a real folder) and `files/fifo`. No route may read, write, list or delete
/// through any of them, and what is outside stays as it was.
private struct PlantedLinks {
    let outside: String
    let files: String
    static let secret = "outside the store"

    init(data: String, outside: String) throws {
        self.outside = outside
        self.files = data + "/files"
        let manager = FileManager.default
        try manager.createDirectory(atPath: outside + "/sub", withIntermediateDirectories: true)
        try Data(Self.secret.utf8).write(to: URL(fileURLWithPath: outside + "/secret.txt"))
        try manager.createDirectory(atPath: self.files + "/real", withIntermediateDirectories: true)
        try Data("real".utf8).write(to: URL(fileURLWithPath: self.files + "/real/kept.txt"))
        try manager.createSymbolicLink(atPath: self.files + "/link", withDestinationPath: outside)
        try manager.createSymbolicLink(atPath: self.files + "/file-link.txt", withDestinationPath: outside + "/secret.txt")
        try manager.createSymbolicLink(atPath: self.files + "/real/inner", withDestinationPath: outside)
        #expect(mkfifo(self.files + "/fifo", 0o644) == 0)
    }

    /// What is outside: every name, and the secret's bytes.
    var outsideState: (names: Set<String>, secret: String?) {
        let names = Set(FileManager.default.subpaths(atPath: self.outside) ?? [])
        let secret = FileManager.default.contents(atPath: self.outside + "/secret.txt").map { String(decoding: $0, as: UTF8.self) }
        return (names, secret)
    }

    /// Whether the link `name` below `files/` is still there, as a link.
    func linkIsThere(_ name: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: self.files + "/" + name)) != nil
    }
}

@Suite struct SymlinkTests {
    @Test func noRouteGoesThroughALink() async throws {
        try await withTemporaryDirectory { outside in
            try await withAccountsServer([.writer]) { client, configuration, _, _ in
                let links = try PlantedLinks(data: configuration.dataDirectory, outside: outside)
                let before = links.outsideState
                #expect(before.names == ["sub", "secret.txt"])
                let headers = TestAccount.writer.headers
                func status(_ method: HTTPRequest.Method, _ uri: String, _ extra: HTTPFields = [:], body: String = "") async throws -> Int {
                    var fields = headers
                    fields.append(contentsOf: extra)
                    return try await dav(client, method, uri, headers: fields, body: body).status.code
                }
                let depth1: HTTPFields = [.depth: "1"]
                let copyTo: (String) -> HTTPFields = { [.destination: "/dav/\($0)"] }
                let proppatch =
                    #"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:t">v</x></D:prop></D:set></D:propertyupdate>"#
                let lockinfo =
                    #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
                let cases: [(String, HTTPRequest.Method, String, HTTPFields, String, Int)] = [
                    ("GET a file through a folder link", .get, "/files/link/secret.txt", [:], "", 404),
                    ("GET a file link", .get, "/files/file-link.txt", [:], "", 404),
                    ("HEAD a file link", .head, "/files/file-link.txt", [:], "", 404),
                    ("GET a folder link's listing", .get, "/files/link", [:], "", 404),
                    ("GET a FIFO", .get, "/files/fifo", [:], "", 404),
                    ("WebDAV GET through a folder link", .get, "/dav/link/secret.txt", [:], "", 404),
                    ("WebDAV GET of a file link", .get, "/dav/file-link.txt", [:], "", 404),
                    ("WebDAV GET of a FIFO", .get, "/dav/fifo", [:], "", 404),
                    ("PROPFIND a folder link", .propfind, "/dav/link/", depth1, "", 404),
                    ("PROPFIND through a folder link", .propfind, "/dav/link/secret.txt", [.depth: "0"], "", 404),
                    ("PROPFIND a link inside a folder", .propfind, "/dav/real/inner/", depth1, "", 404),
                    ("PROPPATCH through a folder link", .proppatch, "/dav/link/secret.txt", [:], proppatch, 404),
                    ("PUT through a folder link", .put, "/dav/link/new.txt", [:], "new", 409),
                    ("PUT over a file link", .put, "/dav/file-link.txt", [:], "replaced", 409),
                    ("PUT through a link inside a folder", .put, "/dav/real/inner/new.txt", [:], "new", 409),
                    ("MKCOL through a folder link", .mkcol, "/dav/link/made", [:], "", 409),
                    ("DELETE through a folder link", .delete, "/dav/link/secret.txt", [:], "", 404),
                    ("DELETE a folder link", .delete, "/dav/link", [:], "", 404),
                    ("DELETE a file link", .delete, "/dav/file-link.txt", [:], "", 404),
                    ("/files DELETE through a folder link", .delete, "/files/link/secret.txt", [:], "", 404),
                    ("/files DELETE of a file link", .delete, "/files/file-link.txt", [:], "", 404),
                    ("COPY from through a folder link", .copy, "/dav/link/secret.txt", copyTo("copied.txt"), "", 404),
                    ("MOVE from through a folder link", .move, "/dav/link/secret.txt", copyTo("moved.txt"), "", 404),
                    ("COPY into a folder link", .copy, "/dav/real/kept.txt", copyTo("link/copied.txt"), "", 409),
                    ("MOVE into a folder link", .move, "/dav/real/kept.txt", copyTo("link/moved.txt"), "", 409),
                    ("LOCK through a folder link", .lock, "/dav/link/secret.txt", [:], lockinfo, 409),
                    ("LOCK a new name through a folder link", .lock, "/dav/link/new.txt", [:], lockinfo, 409),
                ]
                for (name, method, uri, extra, body, expected) in cases {
                    let got = try await status(method, uri, extra, body: body)
                    #expect(got == expected, "\(name): \(got)")
                }
                // An upload into a folder link, and one named as a file link.
                let upload = MultipartBody([.init(filename: "up.txt", content: file("up"))])
                let intoLink = try await client.execute(
                    uri: "/upload?dir=link&parents=true", method: .post, headers: headers + [.contentType: upload.contentType], body: upload.buffer
                ) { ($0.status, String(buffer: $0.body)) }
                #expect(intoLink.0 == .conflict || intoLink.0 == .multiStatus, "\(intoLink)")
                #expect(intoLink.1.contains("409"), "\(intoLink.1)")
                let overLink = MultipartBody([.init(filename: "file-link.txt", content: file("replaced"))])
                let overAnswer = try await client.execute(
                    uri: "/upload?overwrite=true", method: .post, headers: headers + [.contentType: overLink.contentType], body: overLink.buffer
                ) { String(buffer: $0.body) }
                #expect(overAnswer.contains("409"), "\(overAnswer)")

                // Listings leave out every link and the FIFO, and do not descend through them.
                let listing = try await client.execute(uri: "/files/", method: .get, headers: headers) { String(buffer: $0.body) }
                #expect(listing.contains("\"real\""))
                for hidden in ["\"link\"", "file-link", "fifo"] { #expect(!listing.contains(hidden), "\(hidden) in \(listing)") }
                let root = try await dav(client, .propfind, "/dav/", headers: headers + depth1)
                let hrefs = Set(try propfindEntries(root.body).map(\.href))
                #expect(hrefs == ["/dav/", "/dav/real/"], "\(hrefs)")
                let real = try await dav(client, .propfind, "/dav/real/", headers: headers + depth1)
                #expect(Set(try propfindEntries(real.body).map(\.href)) == ["/dav/real/", "/dav/real/kept.txt"])

                // Copying and deleting a folder with a link inside touch the link, never what it points to.
                #expect(try await status(.copy, "/dav/real/", copyTo("copy/") + [.depth: "infinity"]) == 201)
                #expect(FileManager.default.fileExists(atPath: links.files + "/copy/kept.txt"))
                #expect(!links.linkIsThere("copy/inner"), "a copy holds no link")
                #expect(try await status(.delete, "/dav/real/") == 204)
                #expect(!FileManager.default.fileExists(atPath: links.files + "/real"))

                let after = links.outsideState
                #expect(after.names == before.names, "outside: \(after.names)")
                #expect(after.secret == PlantedLinks.secret)
                #expect(links.linkIsThere("link") && links.linkIsThere("file-link.txt"))
                #expect(try await client.execute(uri: "/livez", method: .get) { $0.status } == .ok)
            }
        }
    }

    /// The same rules from the store itself, with the kernel's resolution and with the walk used
    /// where `openat2` is missing.
    @Test(arguments: [StoreTree.Resolution.kernel, .walk])
    func theStoreRefusesLinksWithEitherResolution(_ resolution: StoreTree.Resolution) async throws {
        try await withTemporaryDirectory { outside in
            try await withTemporaryDirectory { data in
                let store = try LocalFileStore(dataDirectory: data, durability: .none, quotaBytes: nil, logger: testLogger(), resolution: resolution)
                #expect(store.tree.resolution == resolution)
                let links = try PlantedLinks(data: data, outside: outside)
                let before = links.outsideState
                let path = { (text: String) in try StorePath(relative: text) }

                #expect(try await store.attributes(of: path("link")) == nil)
                #expect(try await store.attributes(of: path("link/secret.txt")) == nil)
                #expect(try await store.attributes(of: path("file-link.txt")) == nil)
                #expect(try await store.attributes(of: path("fifo")) == nil)
                #expect(try await store.attributes(of: path("real/kept.txt"))?.size == 4)
                #expect(try await store.openItem(at: path("link/secret.txt")) == nil)
                #expect(try await store.openItem(at: path("file-link.txt")) == nil)
                #expect(try await store.openItem(at: path("fifo")) == nil)
                guard case .file(let kept)? = try await store.openItem(at: path("real/kept.txt")) else {
                    Issue.record("real/kept.txt does not open")
                    return
                }
                #expect(String(buffer: try kept.read(from: 0, count: 4)) == "real")

                let write = { (text: String) async throws in
                    _ = try await store.writeWhole(ByteBuffer(string: "x"), to: path(text), digest: nil) { _, _ in }
                }
                for target in ["link/new.txt", "file-link.txt", "real/inner/new.txt"] {
                    await #expect(throws: ProblemDetails.self, "writeWhole \(target)") { try await write(target) }
                }
                // The path is checked as the staged file is created, with its first bytes.
                let throughLink = try await store.stage(for: path("link/deep/new.txt"), refusingExisting: false, digest: false)
                try await throughLink.write(ByteBuffer(string: "x"))
                await #expect(throws: ProblemDetails.self) { _ = try await throughLink.finish() }
                await store.discard(throughLink)
                let staged = try await store.stage(for: path("new.txt"), refusingExisting: false, digest: false)
                try await staged.write(ByteBuffer(string: "x"))
                _ = try await staged.finish()
                let outcome = await store.commit([(staged, try path("link/deep/new.txt"))], overwrite: true)
                #expect((try? outcome[0].get()) == nil, "a commit through a link")
                await store.discard(staged)
                await #expect(throws: ProblemDetails.self) { try await store.makeFolder(at: path("link/made")) }
                #expect(try await store.removeItem(at: path("link/secret.txt")) == false)
                #expect(try await store.removeItem(at: path("link")) == false)
                #expect(try await store.removeFile(at: path("file-link.txt")) == false)
                await #expect(throws: (any Error).self) { try await store.moveItem(from: path("real/kept.txt"), to: path("link/kept.txt")) }
                await #expect(throws: (any Error).self) { try await store.setModified(Date(), of: path("link/secret.txt")) }

                var names: [String] = []
                try await store.forEachEntries(in: .root, batchSize: 16) { batch in
                    batch.map(\.name)
                } _: {
                    names += $0
                }
                #expect(names == ["real"])
                await #expect(throws: (any Error).self) {
                    try await store.forEachEntries(in: path("link"), batchSize: 16) {
                        $0.count
                    } _: { _ in
                    }
                }
                #expect(try await store.removeItem(at: path("real")))
                let after = links.outsideState
                #expect(after.names == before.names)
                #expect(after.secret == PlantedLinks.secret)
            }
        }
    }
}
