import AsyncHTTPClient
import Foundation
import MultiStatusServer
import NIOCore
import SQLKit
import Testing

/// The schema is migrated when a server starts, and several servers may start on one database at
/// once: processes sharing a data folder, or behind a balancer in front of one PostgreSQL database.
@Suite struct MigrationTests {
    @Test(arguments: TestDatabase.allCases)
    func serversStartingOnOneNewDatabaseAtOnceAllStart(database: TestDatabase) async throws {
        try await withTemporaryDirectory { folder in
            try await withNewDatabase(database, in: folder) { url in
                // The SQLite case shares the data folder, whose multistatus.sqlite is the database.
                let arguments = ["--port", "0", "--data-dir", folder, "--log-level", "error"] + (database == .sqlite ? [] : ["--database", url])
                let started = try await withThrowingTaskGroup(of: (ChildProcess, String).self) { group in
                    for _ in 0..<4 { group.addTask { try await startServeProcess(arguments) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                defer {
                    for (process, _) in started where process.isRunning {
                        process.terminate()
                        process.waitUntilExit()
                    }
                }
                let ports = started.compactMap { URLComponents(string: $0.1.components(separatedBy: " ").last ?? "")?.port }
                #expect(ports.count == 4, "every server started: \(started.map(\.1))")

                for (index, port) in ports.enumerated() {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/users")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: #"[{"name": "u", "email": "u\#(index)@example.com"}]"#))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    #expect(response.status.code == 207, "server \(index)")
                }
                let check = try await Database.open(url: url, logger: testLogger())
                do {
                    let versions = try await check.withConnection { sql in
                        try await sql.raw("SELECT version FROM schema_migrations ORDER BY version").all().map {
                            try $0.decode(column: "version", as: Int.self)
                        }
                    }
                    #expect(versions == [1, 2, 3, 4], "each migration applied once")
                    #expect(try await storedUsers(check).count == ports.count, "every server wrote to the same table")
                } catch {
                    await check.close()
                    throw error
                }
                await check.close()
            }
        }
    }
}
