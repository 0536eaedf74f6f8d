import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// Accounts with roots: each sees its folder as the whole store, and nothing else by any route.
@Suite struct AccountRootTests {
    static let alice = TestAccount(name: "alice", password: "a-pass", permission: "write", root: "alice")
    static let bob = TestAccount(name: "bob", password: "b-pass", permission: "write", root: "bob")
    /// The whole store, to see both.
    static let admin = TestAccount(name: "admin", password: "root-pass", permission: "write")

    private static let lockBody =
        #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>o</D:owner></D:lockinfo>"#

    @Test func rootsAreMadeAtStartAndEveryHrefAndLocationIsInTheAccountsView() async throws {
        try await withAccountsServer([Self.alice, Self.bob]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            #expect(FileManager.default.fileExists(atPath: files + "/alice") && FileManager.default.fileExists(atPath: files + "/bob"))
            let upload = MultipartBody([.init(filename: "a.txt", content: file("from alice"))])
            let uploaded = try await client.execute(
                uri: "/upload?dir=docs&parents=true", method: .post, headers: Self.alice.headers.merging([.contentType: upload.contentType]),
                body: upload.buffer
            ) { try read($0.body, .json, .files) }
            #expect(uploaded.items.map(\.status.code) == [201])
            #expect(uploaded.items.first?.location == "/files/docs/a.txt")
            #expect(FileManager.default.contents(atPath: files + "/alice/docs/a.txt") == Data("from alice".utf8))

            let listing = try await client.execute(uri: "/files/", method: .get, headers: Self.alice.headers) { try json($0.body) }
            #expect(listing["path"] as? String == "")
            #expect((listing["entries"] as? [[String: Any]])?.compactMap { $0["location"] as? String } == ["/files/docs/"])

            #expect(try await dav(client, .put, "/dav/b.txt", headers: Self.bob.headers, body: "from bob").status == .created)
            let propfind = try await dav(client, .propfind, "/dav/", headers: Self.alice.headers.merging([.depth: "1"]))
            #expect(Set(try propfindEntries(propfind.body).map(\.href)) == ["/dav/", "/dav/docs/"])
            let bobs = try await dav(client, .propfind, "/dav/", headers: Self.bob.headers.merging([.depth: "1"]))
            #expect(Set(try propfindEntries(bobs.body).map(\.href)) == ["/dav/", "/dav/b.txt"])
        }
    }

    @Test func noRouteReachesAnotherAccountsFolder() async throws {
        try await withAccountsServer([Self.alice, Self.bob]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .put, "/dav/secret.txt", headers: Self.bob.headers, body: "bob's").status == .created)
            #expect(try await dav(client, .put, "/dav/mine.txt", headers: Self.alice.headers, body: "alice's").status == .created)
            let bobBefore = filesOnDisk(files + "/bob")
            let alice = Self.alice.headers
            let host = "127.0.0.1:\(client.port!)"

            // Reads: by path, encoded dot segments, and the other's name in one's own view.
            for uri in [
                "/files/%2e%2e/bob/secret.txt", "/files/%2E%2E/bob/secret.txt", "/files/..%2fbob/secret.txt", "/files/bob/secret.txt",
                "/dav/%2e%2e/bob/secret.txt", "/dav/bob/secret.txt", "/files/%2e%2e%2fbob%2fsecret.txt",
            ] {
                let answer = try await client.execute(uri: uri, method: .get, headers: alice) { $0 }
                #expect(answer.status == .badRequest || answer.status == .notFound, "GET \(uri): \(answer.status)")
                #expect(!String(buffer: answer.body).contains("bob's"), "GET \(uri) read bob's file")
            }
            for uri in ["/dav/%2e%2e/bob/", "/dav/%2e%2e/"] {
                let answer = try await dav(client, .propfind, uri, headers: alice.merging([.depth: "1"]))
                #expect(answer.status == .badRequest, "PROPFIND \(uri)")
            }
            // Writes: upload folders and names, DELETE, PUT, MKCOL, LOCK, PROPPATCH.
            for query in ["?dir=../bob", "?dir=%2e%2e/bob", "?dir=/bob", "?dir=docs/../../bob"] {
                let upload = MultipartBody([.init(filename: "x.txt", content: file("x"))])
                let status = try await client.execute(
                    uri: "/upload" + query, method: .post, headers: alice.merging([.contentType: upload.contentType]), body: upload.buffer
                ) { $0.status }
                #expect(status == .badRequest, "upload \(query)")
            }
            let hostile = MultipartBody([
                .init(filename: "../bob/x.txt", content: file("x")), .init(filename: "..", content: file("x")),
                .init(filename: "/bob/y.txt", content: file("y")),
            ])
            let refused = try await client.execute(
                uri: "/upload", method: .post, headers: alice.merging([.contentType: hostile.contentType]), body: hostile.buffer
            ) { try read($0.body, .json, .files) }
            #expect(refused.items.map(\.status.code) == [400, 400, 400])
            let jsonUpload = #"{"files": [{"filename": "../bob/z.txt", "content": "eg=="}]}"#
            let jsonRefused = try await client.execute(
                uri: "/upload", method: .post, headers: alice.merging([.contentType: "application/json"]), body: ByteBuffer(string: jsonUpload)
            ) { try read($0.body, .json, .files) }
            #expect(jsonRefused.items.map(\.status.code) == [400])
            for (method, uri) in [
                (HTTPRequest.Method.delete, "/files/%2e%2e/bob/secret.txt"), (.delete, "/dav/%2e%2e/bob/secret.txt"),
                (.put, "/dav/%2e%2e/bob/new.txt"),
                (.mkcol, "/dav/%2e%2e/bob/box"), (.lock, "/dav/%2e%2e/bob/secret.txt"), (.proppatch, "/dav/%2e%2e/bob/secret.txt"),
            ] {
                let answer = try await dav(client, method, uri, headers: alice, body: method == .lock ? Self.lockBody : (method == .put ? "x" : ""))
                #expect(answer.status == .badRequest, "\(method) \(uri): \(answer.status)")
            }
            // COPY and MOVE: Destination as a path, an absolute URL, encoded, and on another host.
            for destination in [
                "/dav/../bob/stolen.txt", "/dav/%2e%2e/bob/stolen.txt", "http://\(host)/dav/%2e%2e/bob/stolen.txt", "/files/../bob/stolen.txt",
                "http://other.example/dav/stolen.txt", "/bob/stolen.txt",
            ] {
                for method in [HTTPRequest.Method.copy, .move] {
                    let answer = try await dav(client, method, "/dav/mine.txt", headers: alice.merging([.destination: destination]))
                    #expect([.badRequest, .badGateway].contains(answer.status), "\(method) to \(destination): \(answer.status)")
                }
            }
            // Moving into one's own folder named like the other account stays in one's own view.
            #expect(try await dav(client, .mkcol, "/dav/bob", headers: alice).status == .created)
            #expect(try await dav(client, .copy, "/dav/mine.txt", headers: alice.merging([.destination: "/dav/bob/mine.txt"])).status == .created)
            #expect(FileManager.default.fileExists(atPath: files + "/alice/bob/mine.txt"))

            #expect(filesOnDisk(files + "/bob") == bobBefore)
            #expect(FileManager.default.contents(atPath: files + "/bob/secret.txt") == Data("bob's".utf8))
            #expect(filesOnDisk(files).allSatisfy { $0.hasPrefix("alice/") || $0.hasPrefix("bob/") }, "\(filesOnDisk(files))")
        }
    }

    @Test func aLockBelongsToTheAccountThatTookIt() async throws {
        try await withAccountsServer([Self.alice, Self.admin]) { client, _, _, _ in
            #expect(try await dav(client, .put, "/dav/doc.txt", headers: Self.alice.headers, body: "v1").status == .created)
            let lock = try await dav(client, .lock, "/dav/doc.txt", headers: Self.alice.headers, body: Self.lockBody)
            #expect(lock.status == .ok)
            let token = try #require(lock.headers[.lockToken])
            let bare = String(token.dropFirst().dropLast())

            // The whole-store account sees alice's file at /dav/alice/doc.txt, not her lock.
            let body = #"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#
            let seen = try await dav(client, .propfind, "/dav/alice/doc.txt", headers: Self.admin.headers.merging([.depth: "0"]), body: body)
            #expect(seen.status == .multiStatus)
            #expect(!String(buffer: seen.body).contains(bare), "another account saw the lock token")
            let own = try await dav(client, .propfind, "/dav/doc.txt", headers: Self.alice.headers.merging([.depth: "0"]), body: body)
            #expect(String(buffer: own.body).contains(bare))

            // Its token is worth nothing to the other account: no write, no refresh, no unlock.
            let put = try await dav(client, .put, "/dav/alice/doc.txt", headers: Self.admin.headers.merging([.davIf: "(\(token))"]), body: "v2")
            #expect(put.status == .locked || put.status == .preconditionFailed, "\(put.status)")
            let plain = try await dav(client, .put, "/dav/alice/doc.txt", headers: Self.admin.headers, body: "v2")
            #expect(plain.status == .locked)
            let refresh = try await dav(client, .lock, "/dav/alice/doc.txt", headers: Self.admin.headers.merging([.davIf: "(\(token))"]))
            #expect(refresh.status == .forbidden)
            let unlock = try await dav(client, .unlock, "/dav/alice/doc.txt", headers: Self.admin.headers.merging([.lockToken: token]))
            #expect(unlock.status == .forbidden)
            #expect(try await client.execute(uri: "/files/doc.txt", method: .get, headers: Self.alice.headers) { String(buffer: $0.body) } == "v1")

            // Its own account uses it.
            #expect(
                try await dav(client, .put, "/dav/doc.txt", headers: Self.alice.headers.merging([.davIf: "(\(token))"]), body: "v3").status
                    == .noContent)
            #expect(try await dav(client, .unlock, "/dav/doc.txt", headers: Self.alice.headers.merging([.lockToken: token])).status == .noContent)
            #expect(try await dav(client, .put, "/dav/alice/doc.txt", headers: Self.admin.headers, body: "v4").status == .noContent)
        }
    }
}
