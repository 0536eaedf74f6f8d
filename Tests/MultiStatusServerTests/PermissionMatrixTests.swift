import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import SQLKit
import Testing

/// One request of every route and method the server has.
private struct RouteCase: Sendable, CustomStringConvertible {
    var method: HTTPRequest.Method
    var uri: String
    var headers: HTTPFields = [:]
    var body: String = ""
    /// True when the method changes something: a read account is refused it.
    var writes: Bool
    /// What a write account gets.
    var expected: HTTPResponse.Status

    var description: String { "\(self.method) \(self.uri)" }
}

/// Every route and method, tried without credentials, with wrong ones, with an unknown account, with a
/// read account (every write refused, nothing changed on disk or in the database) and a write account.
@Suite struct PermissionMatrixTests {
    private static func cases(lockToken: String) -> [RouteCase] {
        let upload = MultipartBody([.init(filename: "up.txt", content: file("up"))])
        let lockBody =
            #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
        let propertyUpdate =
            #"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>"#
        let json: HTTPFields = [.contentType: "application/json"]
        return [
            RouteCase(method: .get, uri: "/check-statuses", writes: false, expected: .multiStatus),
            RouteCase(method: .get, uri: "/check-statuses/Database", writes: false, expected: .multiStatus),
            RouteCase(method: .get, uri: "/health", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/limits", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/openapi.json", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/files/", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/files/seed.txt", writes: false, expected: .ok),
            RouteCase(method: .head, uri: "/files/seed.txt", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/files/?archive=zip", writes: false, expected: .ok),
            RouteCase(method: .post, uri: "/archives", headers: json, body: #"{"paths": ["seed.txt"]}"#, writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/users?ids=1", writes: false, expected: .multiStatus),
            RouteCase(method: .get, uri: "/users/1", writes: false, expected: .ok),
            RouteCase(method: .options, uri: "/dav/", writes: false, expected: .ok),
            RouteCase(method: .get, uri: "/dav/seed.txt", writes: false, expected: .ok),
            RouteCase(method: .head, uri: "/dav/seed.txt", writes: false, expected: .ok),
            RouteCase(method: .propfind, uri: "/dav/", headers: [.depth: "1"], writes: false, expected: .multiStatus),
            RouteCase(method: .get, uri: "/no/such/route", writes: false, expected: .notFound),
            RouteCase(method: .delete, uri: "/files/del1.txt", writes: true, expected: .noContent),
            RouteCase(
                method: .post, uri: "/upload", headers: [.contentType: upload.contentType], body: String(decoding: upload.bytes, as: UTF8.self),
                writes: true, expected: .multiStatus),
            RouteCase(
                method: .post, uri: "/users", headers: json, body: #"[{"name": "N", "email": "n@example.com"}]"#, writes: true, expected: .multiStatus
            ),
            RouteCase(method: .patch, uri: "/users", headers: json, body: #"[{"id": 1, "name": "Changed"}]"#, writes: true, expected: .multiStatus),
            RouteCase(method: .delete, uri: "/users", headers: json, body: #"{"ids": [2]}"#, writes: true, expected: .multiStatus),
            RouteCase(
                method: .post, uri: "/file-operations", headers: json, body: #"[{"op": "mkdir", "path": "opsbox"}]"#, writes: true,
                expected: .multiStatus),
            RouteCase(method: .put, uri: "/dav/put.txt", body: "put", writes: true, expected: .created),
            RouteCase(method: .delete, uri: "/dav/del2.txt", writes: true, expected: .noContent),
            RouteCase(method: .mkcol, uri: "/dav/newbox", writes: true, expected: .created),
            RouteCase(method: .copy, uri: "/dav/seed.txt", headers: [.destination: "/dav/copy.txt"], writes: true, expected: .created),
            RouteCase(method: .move, uri: "/dav/move.txt", headers: [.destination: "/dav/moved.txt"], writes: true, expected: .created),
            RouteCase(method: .proppatch, uri: "/dav/seed.txt", body: propertyUpdate, writes: true, expected: .multiStatus),
            RouteCase(method: .lock, uri: "/dav/seed.txt", body: lockBody, writes: true, expected: .ok),
            RouteCase(method: .unlock, uri: "/dav/locked.txt", headers: [.lockToken: "<\(lockToken)>"], writes: true, expected: .noContent),
        ]
    }

    /// Sends a case with `credentials`, from a client address of its own: the many failures here must
    /// not trip the login throttle.
    private static func send(_ client: some TestClientProtocol, _ route: RouteCase, _ credentials: HTTPFields, from address: Int) async throws
        -> (status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer)
    {
        var headers = route.headers.merging(credentials)
        headers[.xForwardedFor] = "10.9.\(address / 250).\(address % 250 + 1)"
        return try await dav(client, route.method, route.uri, headers: headers, body: route.body)
    }

    @Test(arguments: TestDatabase.allCases)
    func everyRouteAndMethodAnswersEachKindOfCaller(database: TestDatabase) async throws {
        try await withTemporaryDirectory { folder in
            let accountFile = folder + "/accounts"
            try Data((TestAccount.writer.line + "\n" + TestAccount.reader.line + "\n").utf8).write(to: URL(fileURLWithPath: accountFile))
            let accounts = try AccountDirectory(accountFile: accountFile, tokenFile: nil, logger: testLogger())
            try await withDatabaseServer(
                database,
                {
                    $0.accounts = accounts; $0.trustedProxies = ["127.0.0.1"]
                }
            ) { client, db, configuration in
                let writer = TestAccount.writer.headers
                for name in ["seed.txt", "del1.txt", "del2.txt", "move.txt", "locked.txt"] {
                    #expect(try await dav(client, .put, "/dav/\(name)", headers: writer, body: name).status == .created)
                }
                let users = #"[{"name": "One", "email": "one@example.com"}, {"name": "Two", "email": "two@example.com"}]"#
                #expect(
                    try await dav(client, .post, "/users", headers: writer.merging([.contentType: "application/json"]), body: users).status
                        == .multiStatus)
                let lockBody =
                    #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
                let lock = try await dav(client, .lock, "/dav/locked.txt", headers: writer, body: lockBody)
                let token = try #require(lock.headers[.lockToken]?.dropFirst().dropLast()).description
                let cases = Self.cases(lockToken: token)
                var address = 0

                let before = try await snapshot(configuration, db)
                for route in cases {
                    for credentials in [HTTPFields(), basicAuthorization("wendy", "wrong"), basicAuthorization("nobody", "x")] {
                        address += 1
                        let answer = try await Self.send(client, route, credentials, from: address)
                        #expect(answer.status == .unauthorized, "\(route) with \(credentials)")
                        #expect(answer.headers[.wwwAuthenticate] == #"Basic realm="MultiStatus", charset="UTF-8""#, "\(route)")
                        #expect(answer.headers[.contentType] == "application/problem+json", "\(route)")
                    }
                    address += 1
                    let read = try await Self.send(client, route, TestAccount.reader.headers, from: address)
                    if route.writes {
                        #expect(read.status == .forbidden, "\(route) by a read account")
                        #expect(try json(read.body)["status"] as? Int == 403, "\(route)")
                    } else {
                        #expect(read.status == route.expected, "\(route) by a read account")
                    }
                }
                #expect(try await snapshot(configuration, db) == before, "a refused request changed something")

                for route in cases {
                    address += 1
                    let answer = try await Self.send(client, route, writer, from: address)
                    #expect(answer.status == route.expected, "\(route) by a write account: \(String(buffer: answer.body))")
                    if answer.status == .multiStatus, route.method == .post || route.method == .patch || route.method == .delete {
                        #expect(try json(answer.body)["summary"].flatMap { ($0 as? [String: Any])?["failed"] as? Int } == 0, "\(route)")
                    }
                }
                let files = filesOnDisk(configuration.dataDirectory + "/files")
                #expect(files == ["seed.txt", "copy.txt", "moved.txt", "put.txt", "up.txt", "locked.txt"])
                #expect(FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/newbox"))
                #expect(FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/opsbox"))
                let rows = try await storedUsers(db)
                #expect(rows.keys.sorted() == [1, 3] && rows[1]?.name == "Changed")
            }
        }
    }
}

/// What a refused request must not change: every stored file and its bytes, every user, dead property and lock.
private func snapshot(_ configuration: ServerConfiguration, _ database: Database) async throws -> [String] {
    let root = configuration.dataDirectory + "/files"
    var state: [String] = []
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let path = enumerator?.nextObject() as? String {
        let data = FileManager.default.contents(atPath: root + "/" + path)
        state.append("file \(path) \(data.map { sha256Hex($0) } ?? "folder")")
    }
    state += try await storedUsers(database).sorted { $0.key < $1.key }.map { "user \($0.key) \($0.value)" }
    state += try await database.withConnection { sql in
        var rows: [String] = []
        for row in try await sql.raw("SELECT path, namespace, name, value FROM dav_properties").all() {
            rows.append("property \(try row.decode(column: "path", as: String.self)) \(try row.decode(column: "name", as: String.self))")
        }
        for row in try await sql.raw("SELECT token, path, expires_at FROM dav_locks").all() {
            rows.append("lock \(try row.decode(column: "path", as: String.self)) \(try row.decode(column: "expires_at", as: Int.self))")
        }
        return rows
    }
    return state.sorted()
}
