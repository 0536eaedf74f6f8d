import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// `POST /file-operations` over a real socket: many deletes, moves, copies and new folders, in order,
/// one status each; WebDAV locks bind them and dead properties follow them, as on every route
/// (those tests on SQLite and on PostgreSQL, where locks and properties are kept).
@Suite struct FileOperationTests {
    static let collection = ResourceCollection(key: "operations", identifierKey: "path", hrefPrefix: "/files/")

    private static let lockBody =
        #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
    private static func propertyUpdate(_ color: String) -> String {
        #"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>\#(color)</Z:color></D:prop></D:set></D:propertyupdate>"#
    }

    /// The dead property `{urn:z}color` of a resource, as PROPFIND reads it; `nil` when it has none.
    private static func color(_ client: some TestClientProtocol, _ path: String, headers: HTTPFields = [:]) async throws -> String? {
        let answer = try await dav(client, .propfind, "/dav/" + path, headers: headers.merging([.depth: "0"]))
        #expect(answer.status == .multiStatus, "PROPFIND \(path)")
        guard let property = try propfindEntries(answer.body).first?.properties["{urn:z}color"], property.status == 200 else { return nil }
        return property.text.contains("red") ? "red" : property.text.contains("blue") ? "blue" : property.text
    }

    /// Every file below the store's root with its content, and every folder.
    private static func tree(_ root: String) -> [String: String] {
        var tree: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            tree[path] = FileManager.default.contents(atPath: root + "/" + path).map { String(decoding: $0, as: UTF8.self) } ?? "folder"
        }
        return tree
    }

    private static func send(_ client: some TestClientProtocol, _ body: String, headers: HTTPFields = [:]) async throws -> (
        status: HTTPResponse.Status, body: ReceivedMultiStatus?, problem: [String: Any]?, headers: HTTPFields
    ) {
        try await sendBatch(client, .post, "/file-operations", body, headers: headers, collection: Self.collection)
    }

    @Test func eachOperationIsAppliedInOrderWithItsOwnStatus() async throws {
        try await withServer { client, configuration in
            for (name, content) in [("a.txt", "A"), ("b.txt", "B"), ("c.txt", "C"), ("full/x.txt", "X")] {
                if name.hasPrefix("full/") { #expect(try await dav(client, .mkcol, "/dav/full").status == .created) }
                #expect(try await dav(client, .put, "/dav/" + name, body: content).status == .created)
            }
            let etag = try #require(try await dav(client, .head, "/dav/c.txt").headers[.eTag])
            let result = try await Self.send(
                client,
                """
                [{"op": "mkdir", "path": "new"},
                 {"op": "move", "path": "a.txt", "to": "new/a.txt"},
                 {"op": "copy", "path": "b.txt", "to": "new/a.txt"},
                 {"op": "copy", "path": "b.txt", "to": "new/a.txt", "overwrite": true},
                 {"op": "delete", "path": "full"},
                 {"op": "delete", "path": "full", "recursive": true},
                 {"op": "delete", "path": "missing.txt"},
                 {"op": "move", "path": "c.txt", "to": "nowhere/c.txt"},
                 {"op": "move", "path": "../c.txt", "to": "d.txt"},
                 {"op": "rename", "path": "c.txt"},
                 {"op": "delete", "path": "c.txt", "ifMatch": "\\"other\\""},
                 {"op": "copy", "path": "c.txt", "to": "c2.txt", "ifMatch": \(JSONValue.string(etag).jsonText)},
                 {"op": "mkdir", "path": "new"},
                 {"op": "move", "path": "new", "to": "new/inside"},
                 {"op": "move", "path": "c.txt"},
                 {"op": "delete", "path": ""}]
                """)
            #expect(result.status == .multiStatus)
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [201, 201, 409, 200, 409, 204, 404, 409, 400, 422, 412, 201, 409, 409, 400, 403])
            #expect(
                items.map(\.id) == [
                    "new", "a.txt", "b.txt", "b.txt", "full", "full", "missing.txt", "c.txt", "../c.txt", "c.txt", "c.txt", "c.txt", "new", "new",
                    "c.txt", "",
                ])
            #expect(items[1].location == "/files/new/a.txt" && items[0].location == "/files/new/")
            #expect(items[2].problem?.detail?.contains("overwrite") == true)
            #expect(items[4].problem?.detail?.contains("recursive") == true)
            #expect(items[14].problem?.detail == "\"to\" is missing")
            #expect(try #require(result.body).summary == .init(total: 16, succeeded: 5, failed: 11))
            #expect(
                Self.tree(configuration.dataDirectory + "/files") == [
                    "b.txt": "B", "c.txt": "C", "c2.txt": "C", "new": "folder", "new/a.txt": "B",
                ])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func locksBindEveryRouteAndPropertiesFollowTheirResource(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, _, configuration in
            for name in ["locked.txt", "p.txt", "r.txt"] { #expect(try await dav(client, .put, "/dav/" + name, body: name).status == .created) }
            let lock = try await dav(client, .lock, "/dav/locked.txt", body: Self.lockBody)
            let token = try #require(lock.headers[.lockToken]?.dropFirst().dropLast()).description
            for name in ["p.txt", "r.txt"] {
                #expect(try await dav(client, .proppatch, "/dav/" + name, body: Self.propertyUpdate("red")).status == .multiStatus)
            }

            let refused = try await Self.send(
                client, #"[{"op": "delete", "path": "locked.txt"}, {"op": "move", "path": "p.txt", "to": "locked.txt", "overwrite": true}]"#)
            #expect(try #require(refused.body).items.map(\.status.code) == [423, 423])
            #expect(try #require(refused.body).items[0].problem?.detail?.contains("lockToken") == true)
            #expect(filesOnDisk(configuration.dataDirectory + "/files") == ["locked.txt", "p.txt", "r.txt"])

            // DELETE /files/… obeys the lock too, and with its token deletes.
            let locked = try await dav(client, .delete, "/files/locked.txt")
            #expect(locked.status == .locked)
            #expect(try json(locked.body)["status"] as? Int == 423)
            #expect(try await dav(client, .delete, "/files/locked.txt", headers: [.davIf: "(<\(token)>)"]).status == .noContent)

            // A move takes the property along; a file deleted by /files/ leaves none for the next of its name.
            let moved = try await Self.send(client, #"[{"op": "move", "path": "p.txt", "to": "q.txt"}]"#)
            #expect(try #require(moved.body).items.map(\.status.code) == [201])
            #expect(try await Self.color(client, "q.txt") == "red")
            #expect(try await dav(client, .delete, "/files/r.txt").status == .noContent)
            #expect(try await dav(client, .put, "/dav/r.txt", body: "again").status == .created)
            #expect(try await Self.color(client, "r.txt") == nil)

            // The token in the item lets it through.
            #expect(try await dav(client, .put, "/dav/held.txt", body: "held").status == .created)
            let held = try await dav(client, .lock, "/dav/held.txt", body: Self.lockBody)
            let heldToken = try #require(held.headers[.lockToken]?.dropFirst().dropLast()).description
            let withToken = try await Self.send(client, #"[{"op": "delete", "path": "held.txt", "lockToken": "\#(heldToken)"}]"#)
            #expect(try #require(withToken.body).items.map(\.status.code) == [204])
            #expect(filesOnDisk(configuration.dataDirectory + "/files") == ["q.txt", "r.txt"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func uploadsObeyLocksAsWebDAVDoes(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, _, configuration in
            #expect(try await dav(client, .put, "/dav/held.txt", body: "old").status == .created)
            #expect(try await dav(client, .mkcol, "/dav/box").status == .created)
            let fileLock = try await dav(client, .lock, "/dav/held.txt", body: Self.lockBody)
            let token = try #require(fileLock.headers[.lockToken]?.dropFirst().dropLast()).description
            // A depth-0 lock on a folder holds its members' names: a new file there, not a replaced one.
            let folderLock = try await dav(client, .lock, "/dav/box", headers: [.depth: "0"], body: Self.lockBody)
            #expect(folderLock.status == .ok)
            let folderToken = try #require(folderLock.headers[.lockToken]?.dropFirst().dropLast()).description
            #expect(try await dav(client, .put, "/dav/box/in.txt", headers: [.davIf: "</dav/box> (<\(folderToken)>)"], body: "in").status == .created)

            func upload(_ folder: String, _ names: [String], headers: HTTPFields = [:]) async throws -> [Int] {
                let body = MultipartBody(names.map { .init(filename: $0, content: file("new " + $0)) })
                return try await client.execute(
                    uri: "/upload?overwrite=true&dir=\(folder)", method: .post, headers: headers.merging([.contentType: body.contentType]),
                    body: body.buffer
                ) { try read($0.body, .json, .files).items.map(\.status.code) }
            }
            #expect(try await upload("", ["held.txt", "free.txt"]) == [423, 201])
            #expect(try await upload("box", ["in.txt", "other.txt"]) == [200, 423])
            let files = configuration.dataDirectory + "/files"
            #expect(FileManager.default.contents(atPath: files + "/held.txt") == Data("old".utf8))
            #expect(!FileManager.default.fileExists(atPath: files + "/box/other.txt"))
            #expect(try await upload("", ["held.txt"], headers: [.davIf: "(<\(token)>)"]) == [200])
            #expect(FileManager.default.contents(atPath: files + "/held.txt") == Data("new held.txt".utf8))
        }
    }

    /// Moves and deletes that need no look first go to the disk together, in order, each still
    /// with its own status; a later one sees what an earlier one did.
    @Test func aRunOfMovesAndDeletesKeepsEachItemsStatusAndTheOrder() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            try FileManager.default.createDirectory(atPath: files + "/sub/full", withIntermediateDirectories: true)
            for name in ["a", "b", "c", "d", "sub/full/x"] { try Data(name.utf8).write(to: URL(fileURLWithPath: "\(files)/\(name).txt")) }
            let result = try await Self.send(
                client,
                """
                [{"op": "move", "path": "a.txt", "to": "x.txt"},
                 {"op": "move", "path": "missing.txt", "to": "y.txt"},
                 {"op": "move", "path": "b.txt", "to": "x.txt"},
                 {"op": "move", "path": "c.txt", "to": "nowhere/c.txt"},
                 {"op": "move", "path": "d.txt", "to": "sub/d.txt"},
                 {"op": "move", "path": "x.txt", "to": "z.txt"},
                 {"op": "move", "path": "sub/full", "to": "full"},
                 {"op": "delete", "path": "z.txt"},
                 {"op": "delete", "path": "z.txt"},
                 {"op": "delete", "path": "full"},
                 {"op": "delete", "path": "sub/d.txt"}]
                """)
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [201, 404, 409, 409, 201, 201, 201, 204, 404, 409, 204])
            #expect(items[0].location == "/files/x.txt" && items[6].location == "/files/full/")
            #expect(items[1].problem?.detail == "nothing at \"missing.txt\"")
            #expect(items[2].problem?.detail?.contains("overwrite") == true)
            #expect(items[9].problem?.detail?.contains("recursive") == true)
            #expect(filesOnDisk(files) == ["b.txt", "c.txt", "full/x.txt"])
        }
    }

    @Test func longRunsKeepEachItemsStatusWhetherSplitOrInOrder() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            for folder in ["many", "d1", "d3/sub"] {
                try FileManager.default.createDirectory(atPath: "\(files)/\(folder)", withIntermediateDirectories: true)
            }
            for name in (0..<490).map({ "many/f\($0)" }) + ["d1/x", "d1/a", "d3/sub/x", "d3/y"] {
                try Data(name.utf8).write(to: URL(fileURLWithPath: "\(files)/\(name).txt"))
            }
            // 500 deletes, none at or below another: done in parts at once, answered in order.
            let deletes = (0..<500).map { #"{"op": "delete", "path": "many/f\#($0).txt"}"# }
            let independent = try #require(try await Self.send(client, "[\(deletes.joined(separator: ","))]").body).items
            #expect(independent.map(\.status.code) == ((0..<500).map { $0 < 490 ? 204 : 404 }))
            #expect(independent.map(\.id) == (0..<500).map { .string("many/f\($0).txt") })
            #expect(filesOnDisk(files + "/many").isEmpty)

            // Deletes where one is below another run in order: a folder, then what was in it.
            let fillers = (0..<197).map { #"{"op": "delete", "path": "none\#($0).txt"}"# }
            let dependent = try #require(
                try await Self.send(
                    client,
                    """
                    [{"op": "delete", "path": "d3/sub/x.txt"}, {"op": "delete", "path": "d3/sub"}, {"op": "delete", "path": "d3/sub"},
                     {"op": "delete", "path": "d3", "recursive": true}, {"op": "delete", "path": "d3/y.txt"}, \(fillers.joined(separator: ","))]
                    """
                ).body
            ).items
            #expect(dependent.map(\.status.code) == ([204, 204, 404, 204, 404] + Array(repeating: 404, count: 197)))

            // A folder opened for one move is not used after the folder itself moved.
            let moves = try #require(
                try await Self.send(
                    client,
                    """
                    [{"op": "move", "path": "d1/x.txt", "to": "x.txt"}, {"op": "move", "path": "d1", "to": "d2"},
                     {"op": "move", "path": "d1/a.txt", "to": "a.txt"}, {"op": "move", "path": "d2/a.txt", "to": "a2.txt"}]
                    """
                ).body
            ).items
            #expect(moves.map(\.status.code) == ([201, 201, 404, 201]))
            #expect(filesOnDisk(files) == ["a2.txt", "x.txt"])
            #expect(FileManager.default.fileExists(atPath: files + "/d2") && !FileManager.default.fileExists(atPath: files + "/d1"))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aThousandDeletesWithOneLockedFileRefuseThatFileAlone(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, _, configuration in
            let files = configuration.dataDirectory + "/files"
            for index in 0..<1000 { try Data("\(index)".utf8).write(to: URL(fileURLWithPath: "\(files)/f\(index).txt")) }
            let lock = try await dav(client, .lock, "/dav/f500.txt", body: Self.lockBody)
            #expect(lock.status == .ok)
            let body = "[" + (0..<1000).map { #"{"op": "delete", "path": "f\#($0).txt"}"# }.joined(separator: ",") + "]"
            let result = try await Self.send(client, body)
            let items = try #require(result.body).items
            #expect(items.count == 1000)
            #expect(items.enumerated().allSatisfy { index, item in item.status.code == (index == 500 ? 423 : 204) })
            #expect(filesOnDisk(files) == ["f500.txt"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func anAtomicBatchThatFailsLeavesTheTreeAndItsPropertiesAsTheyWere(database: TestDatabase) async throws {
        try await withDatabaseServer(database) { client, _, configuration in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            for name in ["a.txt", "b.txt", "docs/x.txt", "docs/y.txt"] {
                #expect(try await dav(client, .put, "/dav/" + name, body: name).status == .created)
            }
            #expect(try await dav(client, .proppatch, "/dav/a.txt", body: Self.propertyUpdate("red")).status == .multiStatus)
            #expect(try await dav(client, .proppatch, "/dav/b.txt", body: Self.propertyUpdate("blue")).status == .multiStatus)
            let before = Self.tree(files)
            let batch = """
                [{"op": "mkdir", "path": "new"},
                 {"op": "move", "path": "a.txt", "to": "new/a.txt"},
                 {"op": "delete", "path": "docs", "recursive": true},
                 {"op": "copy", "path": "new/a.txt", "to": "b.txt", "overwrite": true},
                 {"op": "move", "path": "b.txt", "to": "c.txt"},
                 {"op": "delete", "path": "missing.txt"},
                 {"op": "mkdir", "path": "later"}]
                """
            let failed = try await Self.send(client, batch, headers: [.prefer: "atomic"])
            #expect(failed.status == .notFound)
            #expect(try #require(failed.body).items.map(\.status.code) == [424, 424, 424, 424, 424, 404, 424])
            #expect(Self.tree(files) == before)
            #expect(try await Self.color(client, "a.txt") == "red")
            #expect(try await Self.color(client, "b.txt") == "blue")
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)

            // An item refused as it is read refuses the batch before anything is applied.
            let unread = try await Self.send(client, #"[{"op": "mkdir", "path": "new"}, {"op": "mkdir"}]"#, headers: [.prefer: "atomic"])
            #expect(unread.status == .badRequest)
            #expect(try #require(unread.body).items.map(\.status.code) == [424, 400])
            #expect(Self.tree(files) == before)

            let applied = try await Self.send(
                client, batch.replacingOccurrences(of: #"{"op": "delete", "path": "missing.txt"},"#, with: ""), headers: [.prefer: "atomic"])
            #expect(applied.status == .ok)
            #expect(try #require(applied.body).items.map(\.status.code) == [201, 201, 204, 200, 201, 201])
            #expect(Self.tree(files) == ["new": "folder", "new/a.txt": "a.txt", "c.txt": "a.txt", "later": "folder"])
            // Properties went where the items went: a's along its move, the copy's over b's, then along b's move.
            #expect(try await Self.color(client, "new/a.txt") == "red")
            #expect(try await Self.color(client, "c.txt") == "red")
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)
        }
    }

    @Test func anAtomicBatchIsCheckedWholeFirstAndNamesEachItemThatWouldFail() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            for name in ["a.txt", "b.txt", "docs/x.txt", "docs/y.txt"] {
                #expect(try await dav(client, .put, "/dav/" + name, body: name).status == .created)
            }
            let before = Self.tree(files)
            // Each item is checked against the tree the items before it would leave.
            let batch = """
                [{"op": "mkdir", "path": "new"},
                 {"op": "move", "path": "a.txt", "to": "new/a.txt"},
                 {"op": "delete", "path": "a.txt"},
                 {"op": "copy", "path": "new/a.txt", "to": "b.txt"},
                 {"op": "delete", "path": "docs"},
                 {"op": "move", "path": "docs/x.txt", "to": "new/x.txt"},
                 {"op": "move", "path": "docs/y.txt", "to": "new/y.txt"},
                 {"op": "delete", "path": "docs"},
                 {"op": "mkdir", "path": "new/a.txt"},
                 {"op": "move", "path": "new/x.txt", "to": "new", "overwrite": true},
                 {"op": "copy", "path": "new", "to": "copy"},
                 {"op": "copy", "path": "new", "to": "copy2", "recursive": true},
                 {"op": "delete", "path": "copy2/y.txt"},
                 {"op": "delete", "path": "copy/y.txt"}]
                """
            let failed = try await Self.send(client, batch, headers: [.prefer: "atomic"])
            #expect(failed.status == .notFound)
            let items = try #require(failed.body).items
            #expect(items.map(\.status.code) == [424, 424, 404, 409, 409, 424, 424, 424, 409, 409, 409, 424, 424, 404])
            #expect(items[3].problem?.detail?.contains("overwrite") == true)
            #expect(items[4].problem?.detail?.contains("not empty") == true)
            #expect(items[9].problem?.detail?.contains("holds") == true)
            #expect(items[10].problem?.detail?.contains("not empty") == true)
            #expect(Self.tree(files) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/tmp/uploads").isEmpty)

            // Without the failing items, the same plan is applied as checked.
            let applied = try await Self.send(
                client,
                """
                [{"op": "mkdir", "path": "new"},
                 {"op": "move", "path": "a.txt", "to": "new/a.txt"},
                 {"op": "move", "path": "docs/x.txt", "to": "new/x.txt"},
                 {"op": "move", "path": "docs/y.txt", "to": "new/y.txt"},
                 {"op": "delete", "path": "docs"},
                 {"op": "copy", "path": "new", "to": "copy2", "recursive": true},
                 {"op": "delete", "path": "copy2/y.txt"}]
                """, headers: [.prefer: "atomic"])
            #expect(applied.status == .ok)
            #expect(try #require(applied.body).items.map(\.status.code) == [201, 201, 201, 201, 204, 201, 204])
            #expect(
                Self.tree(files) == [
                    "b.txt": "b.txt", "new": "folder", "new/a.txt": "a.txt", "new/x.txt": "docs/x.txt", "new/y.txt": "docs/y.txt",
                    "copy2": "folder", "copy2/a.txt": "a.txt", "copy2/x.txt": "docs/x.txt",
                ])
        }
    }

    @Test func replacingAFolderThatHoldsTheSourceIsRefusedAndLosesNothing() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            #expect(try await dav(client, .put, "/dav/docs/x.txt", body: "X").status == .created)
            let result = try await Self.send(client, #"[{"op": "move", "path": "docs/x.txt", "to": "docs", "overwrite": true}]"#)
            #expect(try #require(result.body).items.map(\.status.code) == [409])
            #expect(try await dav(client, .move, "/dav/docs/x.txt", headers: [.destination: "/dav/docs", .overwrite: "T"]).status == .forbidden)
            #expect(try await dav(client, .copy, "/dav/docs/x.txt", headers: [.destination: "/dav/docs", .overwrite: "T"]).status == .forbidden)
            #expect(Self.tree(files) == ["docs": "folder", "docs/x.txt": "X"])
        }
    }

    @Test func callersWithoutWriteAccessOrOutsideTheirRootChangeNothing() async throws {
        let alice = TestAccount(name: "alice", password: "a-pass", permission: "write", root: "alice")
        let bob = TestAccount(name: "bob", password: "b-pass", permission: "write", root: "bob")
        try await withAccountsServer([alice, bob, TestAccount.reader]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .put, "/dav/secret.txt", headers: bob.headers, body: "bob's").status == .created)
            #expect(try await dav(client, .put, "/dav/mine.txt", headers: alice.headers, body: "alice's").status == .created)
            let before = Self.tree(files)
            let body = #"[{"op": "delete", "path": "bob/secret.txt"}, {"op": "move", "path": "alice/mine.txt", "to": "x.txt"}]"#

            let anonymous = try await Self.send(client, body)
            #expect(anonymous.status == .unauthorized)
            let reader = try await Self.send(client, body, headers: TestAccount.reader.headers)
            #expect(reader.status == .forbidden)
            #expect(reader.problem?["status"] as? Int == 403)
            #expect(Self.tree(files) == before)

            // Paths are in alice's view: bob's folder cannot be named, by name or by climbing out.
            let outside = try await Self.send(
                client,
                #"[{"op": "delete", "path": "../bob/secret.txt"}, {"op": "delete", "path": "bob/secret.txt"}, {"op": "copy", "path": "mine.txt", "to": "../bob/mine.txt"}]"#,
                headers: alice.headers)
            #expect(try #require(outside.body).items.map(\.status.code) == [400, 404, 400])
            #expect(Self.tree(files) == before)

            let own = try await Self.send(client, #"[{"op": "move", "path": "mine.txt", "to": "moved.txt"}]"#, headers: alice.headers)
            #expect(try #require(own.body).items.map(\.status.code) == [201])
            #expect(try #require(own.body).items.first?.location == "/files/moved.txt")
            #expect(Self.tree(files) == ["alice": "folder", "alice/moved.txt": "alice's", "bob": "folder", "bob/secret.txt": "bob's"])
        }
    }

    @Test func aBodyThatIsNotABatchIsRefusedWhole() async throws {
        try await withServer { client, _ in
            for (body, status) in [("{", 400), (#"{"op": "delete"}"#, 400), ("[]", 400), (#"["delete"]"#, 207)] {
                let answer = try await Self.send(client, body)
                #expect(answer.status.code == status, "\(body)")
                if status == 207 { #expect(try #require(answer.body).items.map(\.status.code) == [400]) }
            }
            let text = try await sendBatch(
                client, .post, "/file-operations", "[]", headers: [.contentType: "text/plain"], collection: Self.collection)
            #expect(text.status == .unsupportedMediaType)
        }
    }
}
