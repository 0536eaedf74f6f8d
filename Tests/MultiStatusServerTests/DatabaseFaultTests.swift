import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// A PostgreSQL cluster of one test's own, which the test may stop and start: the server the test
/// script started is shared by every other test.
struct PostgresCluster {
    let folder: String
    let port: Int
    private let bin: String

    var url: String { "postgres://postgres@127.0.0.1:\(self.port)/postgres" }

    /// Creates the cluster (initdb) on a free loopback port and starts it; removed after `body`.
    static func with(_ body: (PostgresCluster) async throws -> Void) async throws {
        let bins = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let version = try #require(
            bins.compactMap(Int.init).max(), "PostgreSQL is not installed: run the tests through scripts/test, which installs it")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("multistatus-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        if getuid() == 0, let postgres = getpwnam("postgres") {
            // PostgreSQL refuses to run as root; the cluster belongs to its own user.
            chown(folder, postgres.pointee.pw_uid, postgres.pointee.pw_gid)
        }
        let listener = try await ServerSocket.listen()
        let port = listener.port
        try await listener.channel.close()
        let cluster = PostgresCluster(folder: folder, port: port, bin: "/usr/lib/postgresql/\(version)/bin")
        try await cluster.run("initdb", ["-D", folder + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        try await cluster.start()
        do {
            try await body(cluster)
        } catch {
            _ = try? await cluster.run("pg_ctl", ["-D", folder + "/data", "-m", "immediate", "stop"])
            throw error
        }
        _ = try? await cluster.run("pg_ctl", ["-D", folder + "/data", "-m", "immediate", "stop"])
    }

    /// Starts the server and waits until it accepts connections.
    func start() async throws {
        let options = "-h 127.0.0.1 -p \(self.port) -k \(self.folder) -c fsync=off"
        try await self.run("pg_ctl", ["-D", self.folder + "/data", "-l", self.folder + "/log", "-w", "-o", options, "start"])
    }

    /// Stops the server as an operator would: sessions are ended, then it shuts down.
    func stop() async throws {
        try await self.run("pg_ctl", ["-D", self.folder + "/data", "-m", "fast", "-w", "stop"])
    }

    /// Runs one of PostgreSQL's tools, as its own user when the tests run as root.
    private func run(_ tool: String, _ arguments: [String]) async throws {
        let result =
            getuid() == 0
            ? try await ExternalTool("runuser").run(
                ["-u", "postgres", "--", "\(self.bin)/\(tool)"] + arguments, in: self.folder, timeout: .seconds(60))
            : try await ExternalTool(path: "\(self.bin)/\(tool)").run(arguments, in: self.folder, timeout: .seconds(60))
        let log = (try? String(contentsOfFile: self.folder + "/log", encoding: .utf8)) ?? ""
        try #require(result.status == 0, "\(tool) \(arguments.joined(separator: " ")) failed: \(result.output)\n\(log.suffix(2_000))")
    }
}

/// What a user sees when the database cannot answer: 503 with `Retry-After`, never a 500 or a
/// request left hanging, and service again once the database is back, without a restart.
@Suite struct DatabaseFaultTests {
    private static let lockBody =
        #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
    private static let propertyBody =
        #"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>"#
    private static let json: HTTPFields = [.contentType: "application/json"]

    /// Every kind of request that needs the database (a PUT, because a lock is held), each expected 503 with `Retry-After` and a
    /// problem body naming the database.
    private static func expectUnavailable(_ client: some TestClientProtocol, _ engine: String) async throws {
        let requests: [(HTTPRequest.Method, String, HTTPFields, String)] = [
            (.post, "/users", json, #"[{"name": "Eve", "email": "eve@example.com"}]"#),
            (.patch, "/users", json, #"[{"id": 1, "name": "Changed"}]"#),
            (.delete, "/users", json, #"{"ids": [1]}"#),
            (.get, "/users?ids=1", [:], ""),
            (.lock, "/dav/kept.txt", [:], lockBody),
            (.proppatch, "/dav/kept.txt", [:], propertyBody),
            (.put, "/dav/kept.txt", [:], "replaced"),
        ]
        for (method, uri, headers, body) in requests {
            let answer = try await dav(client, method, uri, headers: headers, body: body)
            let text = String(buffer: answer.body)
            #expect(answer.status == .serviceUnavailable, "\(engine) \(method) \(uri): \(text)")
            #expect(answer.headers[.retryAfter] == "2", "\(engine) \(method) \(uri)")
            #expect(answer.headers[.contentType] == "application/problem+json", "\(engine) \(method) \(uri)")
            #expect(text.contains("database-unavailable"), "\(engine) \(method) \(uri): \(text)")
        }
    }

    /// What the requests above would have changed is unchanged: the user, the file, its properties.
    private static func expectUnchanged(_ client: some TestClientProtocol, _ configuration: ServerConfiguration) async throws {
        let user = try await dav(client, .get, "/users?ids=1", headers: [:])
        #expect(user.status == .multiStatus)
        #expect(String(buffer: user.body).contains("\"Ada\""), "\(String(buffer: user.body))")
        #expect(try await dav(client, .get, "/users?ids=2").status == .multiStatus)
        let users = String(buffer: try await dav(client, .get, "/users?ids=1,2,3").body)
        #expect(!users.contains("eve@example.com"), "\(users)")
        #expect(try String(contentsOfFile: configuration.dataDirectory + "/files/kept.txt", encoding: .utf8) == "kept")
        let properties = try await dav(
            client, .propfind, "/dav/kept.txt", headers: [.depth: "0"],
            body: #"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)
        #expect(!String(buffer: properties.body).contains("urn:z"), "\(String(buffer: properties.body))")
    }

    /// Reads a user every 100 ms until it is served, for at most 10 s; every answer until then
    /// must be the 503 of a database that cannot answer, never a 500 of a pool in transition.
    private static func servedAgain(_ client: some TestClientProtocol) async throws -> (status: HTTPResponse.Status, body: ByteBuffer) {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while true {
            let answer = try await dav(client, .get, "/users?ids=1")
            if answer.status == .multiStatus || clock.now >= deadline { return (answer.status, answer.body) }
            if answer.status != .serviceUnavailable {
                Issue.record("while PostgreSQL came back: \(answer.status) \(String(buffer: answer.body))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private static func seed(_ client: some TestClientProtocol) async throws {
        let users = try await dav(
            client, .post, "/users", headers: json,
            body: #"[{"name": "Ada", "email": "ada@example.com"}, {"name": "Bob", "email": "bob@example.com"}]"#)
        #expect(users.status == .multiStatus, "\(String(buffer: users.body))")
        #expect(try await dav(client, .put, "/dav/kept.txt", body: "kept").status == .created)
        // While no lock exists anywhere, a PUT does not ask the database; with one, every PUT must.
        #expect(try await dav(client, .put, "/dav/locked.txt", body: "locked").status == .created)
        #expect(try await dav(client, .lock, "/dav/locked.txt", body: Self.lockBody).status == .ok)
    }

    @Test func aStoppedPostgreSQLIs503UntilItComesBack() async throws {
        try await PostgresCluster.with { cluster in
            try await withServer {
                $0.databaseURL = cluster.url
                $0.limits.databaseWaitMs = 1_000
                $0.limits.probeTimeoutMs = 4_000
                $0.limits.statusCacheMs = 0
            } _: { client, configuration in
                try await Self.seed(client)
                try await cluster.stop()

                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    let database = try #require(try read(response.body).items.first { $0.id == "Database" })
                    // 503, not the 504 of a probe that ran out its timeout.
                    #expect(database.status == .serviceUnavailable, "\(database)")
                    // The probe meets either the pool finding no connection or a pooled connection that was
                    // cut as the cluster stopped (which of the two is a race with the server's shutdown).
                    let detail = database.problem?.detail ?? ""
                    #expect(
                        detail.contains("no PostgreSQL connection") || detail.contains("the connection to PostgreSQL was lost"), "\(database)")
                }
                try await Self.expectUnavailable(client, "postgres")
                // The store does not need the database: files are still served.
                let file = try await dav(client, .get, "/files/kept.txt")
                #expect(file.status == .ok)
                #expect(String(buffer: file.body) == "kept")

                try await cluster.start()
                let answer = try await Self.servedAgain(client)
                #expect(answer.status == .multiStatus, "served again within 10 s of PostgreSQL's return")
                try await Self.expectUnchanged(client, configuration)
                let created = try await dav(client, .post, "/users", headers: Self.json, body: #"[{"name": "Eve", "email": "eve@example.com"}]"#)
                #expect(created.status == .multiStatus, "\(String(buffer: created.body))")
                #expect(try await dav(client, .lock, "/dav/kept.txt", body: Self.lockBody).status == .ok)
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    let database = try read(response.body).items.first { $0.id == "Database" }
                    #expect(database?.status == .ok)
                }
            }
        }
    }

    /// An outage longer than a minute: postgres-nio's pool has by then tripped its circuit breaker,
    /// which fails leases with an error of its own, and backs off up to a minute between attempts.
    /// Every answer meanwhile is still a 503, and the server is back soon after PostgreSQL is.
    @Test func aLongOutageIs503ThroughoutAndEndsWhenPostgreSQLReturns() async throws {
        try await PostgresCluster.with { cluster in
            try await withServer {
                $0.databaseURL = cluster.url
                $0.limits.databaseWaitMs = 1_000
            } _: { client, _ in
                try await Self.seed(client)
                try await cluster.stop()
                let clock = ContinuousClock()
                let outageEnds = clock.now + .seconds(70)
                var answers: [HTTPResponse.Status: Int] = [:]
                while clock.now < outageEnds {
                    let answer = try await dav(client, .patch, "/users", headers: Self.json, body: #"[{"id": 1, "name": "Changed"}]"#)
                    answers[answer.status, default: 0] += 1
                    if answer.status != .serviceUnavailable || !String(buffer: answer.body).contains("database-unavailable") {
                        Issue.record("during the outage: \(answer.status) \(String(buffer: answer.body))")
                    }
                    try await Task.sleep(for: .seconds(2))
                }
                #expect(answers[.serviceUnavailable, default: 0] >= 20, "\(answers)")

                try await cluster.start()
                let answer = try await Self.servedAgain(client)
                #expect(answer.status == .multiStatus, "served again within 10 s of PostgreSQL's return: \(String(buffer: answer.body))")
                #expect(String(buffer: answer.body).contains("\"Ada\""), "nothing was applied during the outage")
                let patched = try await dav(client, .patch, "/users", headers: Self.json, body: #"[{"id": 1, "name": "Changed"}]"#)
                #expect(patched.status == .multiStatus, "\(String(buffer: patched.body))")
            }
        }
    }

    /// Another process holds SQLite's write lock for longer than the server's busy timeout (5 s).
    @Test func aLockedSQLiteIs503WithRetryAfter() async throws {
        try await withServer { client, configuration in
            try await Self.seed(client)
            let database = configuration.resolvedDatabaseURL.dropFirst("sqlite:".count)
            // Holds an exclusive transaction until told to let go on standard input, or for 60 s.
            let holder = """
                import sqlite3, sys, select
                db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
                db.execute("BEGIN EXCLUSIVE")
                print("locked", flush=True)
                select.select([sys.stdin], [], [], 60)
                db.execute("ROLLBACK")
                """
            let python = try ExternalTool.python()
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: python.path)
            process.arguments = ["-c", holder, String(database)]
            let output = Pipe()
            let input = Pipe()
            process.standardOutput = output
            process.standardInput = input
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            let line = try await testBlockingPool.runIfActive { output.fileHandleForReading.availableData }
            try #require(String(decoding: line, as: UTF8.self).hasPrefix("locked"))

            let answers = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status, String?, String).self) { group in
                for (method, uri, body) in [
                    (HTTPRequest.Method.patch, "/users", #"[{"id": 1, "name": "Changed"}]"#),
                    (.lock, "/dav/kept.txt", Self.lockBody),
                ] {
                    group.addTask {
                        let answer = try await dav(client, method, uri, headers: method == .patch ? Self.json : [:], body: body)
                        return ("\(method) \(uri)", answer.status, answer.headers[.retryAfter], String(buffer: answer.body))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (request, status, retryAfter, body) in answers {
                #expect(status == .serviceUnavailable, "\(request): \(body)")
                #expect(retryAfter == "2", "\(request)")
                #expect(body.contains("database-unavailable"), "\(request): \(body)")
            }
            // Reading does not wait for the writer: WAL readers see the last committed state.
            #expect(try await dav(client, .get, "/users?ids=1").status == .multiStatus)

            input.fileHandleForWriting.write(Data("go\n".utf8))
            try? input.fileHandleForWriting.close()
            try await testBlockingPool.runIfActive { process.waitUntilExit() }
            let changed = try await dav(client, .patch, "/users", headers: Self.json, body: #"[{"id": 1, "name": "Changed"}]"#)
            #expect(changed.status == .multiStatus, "\(String(buffer: changed.body))")
            #expect(String(buffer: try await dav(client, .get, "/users?ids=1").body).contains("\"Changed\""))
        }
    }
}
