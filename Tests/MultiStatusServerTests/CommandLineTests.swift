import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import Testing

/// The `multistatus` client commands, run as a user runs them, against a server on a loopback port:
/// what they print, their exit status, and what is on the server's disk afterwards.
@Suite struct CommandLineTests {
    /// Runs `multistatus ARGUMENTS --server URL` (with `--user` for `account`).
    private static func run(_ arguments: [String], port: Int, account: TestAccount? = nil) async throws -> (
        status: Int32, output: String, errors: String
    ) {
        let user = account.map { ["--user", "\($0.name):\($0.password)"] } ?? []
        return try await runCommand(arguments + ["--server", "http://127.0.0.1:\(port)"] + user, environment: ["NO_COLOR": "1"])
    }

    /// Names a local file may have and the server refuses.
    private static let badNames = ["back\\slash.txt", "tab\there.txt", "bell\u{7}.txt", "escape\u{1B}[2J.txt", "reversed\u{202E}txt.exe"]

    /// `count` local files in `folder/tree`, the first 5 with ``badNames`` when `badNames`, each
    /// with its own time; returns their relative paths and times.
    private static func makeTree(_ folder: String, count: Int = 300, badNames: Bool = true) throws -> [String: Date] {
        var made: [String: Date] = [:]
        for index in 0..<count {
            let name =
                badNames && index < Self.badNames.count
                ? Self.badNames[index] : (index % 3 == 0 ? "sub/deeper/f\(index).bin" : index % 3 == 1 ? "sub/f\(index).bin" : "f\(index).bin")
            let path = folder + "/tree/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(randomBytes(100 + index * 37)).write(to: URL(fileURLWithPath: path))
            let time = Date(timeIntervalSince1970: 1_600_000_000 + Double(index) * 3_600 + 0.25)
            try FileManager.default.setAttributes([.modificationDate: time], ofItemAtPath: path)
            made[name] = time
        }
        return made
    }

    private static func sha256(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { Array(SHA256.hash(data: $0)) }
    }

    @Test func uploadingAFolderListsTheRefusedFilesAndStoresTheRestWithTheirChecksumsAndTimes() async throws {
        try await withTemporaryDirectory { local in
            let made = try Self.makeTree(local)
            try await withServer { client, configuration in
                let port = client.port!
                let table = try await Self.run(["upload", local + "/tree", "--to", "a", "--parents"], port: port)
                #expect(table.status == 2, "\(table.errors)")
                let lines = table.output.split(separator: "\n")
                #expect(lines.filter { $0.contains("400 Bad Request") }.count == 5)
                #expect(lines.contains { $0.hasPrefix("tree/back\\slash.txt") && $0.contains("must not contain '\\'") })
                // A control character in a name is shown escaped, never sent to the terminal.
                #expect(lines.contains { $0.hasPrefix("tree/escape\\u{1b}[2J.txt") })
                #expect(!table.output.contains("\u{1B}"))
                #expect(lines.last == "300 items: 295 succeeded, 5 failed")

                let json = try await Self.run(["upload", local + "/tree", "--to", "b", "--parents", "--json"], port: port)
                #expect(json.status == 2)
                let body = try MultiStatusReader.read(Array(json.output.utf8), format: .json)
                #expect(body.items.count == 300)
                #expect(body.summary == Summary(total: 300, succeeded: 295, failed: 5))
                #expect(Set(body.failed.map(\.id.displayText)) == Set(Self.badNames.map { "tree/" + $0 }))
                #expect(made.count == 300)

                for folder in ["a", "b"] {
                    let stored = filesOnDisk(configuration.dataDirectory + "/files/" + folder + "/tree")
                    #expect(stored.count == 295)
                    for name in stored {
                        let server = configuration.dataDirectory + "/files/\(folder)/tree/" + name
                        #expect(Self.sha256(server) == Self.sha256(local + "/tree/" + name), "\(name)")
                        let time = try FileManager.default.attributesOfItem(atPath: server)[.modificationDate] as? Date
                        #expect(abs((time?.timeIntervalSince1970 ?? 0) - made[name]!.timeIntervalSince1970) < 0.001, "\(name)")
                    }
                }
            }
        }
    }

    @Test func anUploadOverTheServersFileLimitIsSplitAndEveryFileLands() async throws {
        try await withTemporaryDirectory { local in
            _ = try Self.makeTree(local, count: 120, badNames: false)
            try await withServer({ $0.limits.filesPerRequest = 50 }) { client, configuration in
                let result = try await Self.run(["upload", local + "/tree"], port: client.port!)
                #expect(result.status == 0, "\(result.output)\(result.errors)")
                #expect(result.output.hasSuffix("120 items: 120 succeeded, 0 failed\n"))
                #expect(filesOnDisk(configuration.dataDirectory + "/files/tree").count == 120)
            }
        }
    }

    @Test func removingFiftyPathsWithOneLockedRemovesTheOthers() async throws {
        let lockBody =
            #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
        try await withAccountsServer([.writer, .reader]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            for index in 0..<50 {
                #expect(try await dav(client, .put, "/dav/f\(index).txt", headers: TestAccount.writer.headers, body: "\(index)").status == .created)
            }
            #expect(try await dav(client, .lock, "/dav/f7.txt", headers: TestAccount.writer.headers, body: lockBody).status == .ok)
            let paths = (0..<50).map { "f\($0).txt" }

            // Without credentials, and with a read account: the request is refused whole, nothing changes.
            let anonymous = try await Self.run(["rm"] + paths, port: client.port!)
            #expect(anonymous.status == 1)
            #expect(anonymous.errors.contains("401"))
            let reader = try await Self.run(["rm"] + paths, port: client.port!, account: .reader)
            #expect(reader.status == 1)
            #expect(reader.errors.contains("403"))
            #expect(filesOnDisk(files).count == 50)

            let removed = try await Self.run(["rm"] + paths, port: client.port!, account: .writer)
            #expect(removed.status == 2, "\(removed.errors)")
            #expect(removed.output.split(separator: "\n").filter { $0.contains("423 Locked") }.map { $0.prefix(7) } == ["f7.txt "])
            #expect(removed.output.hasSuffix("50 items: 49 succeeded, 1 failed\n"))
            #expect(filesOnDisk(files) == ["f7.txt"])
        }
    }

    @Test func anAtomicBatchRefusedIsExit3AndChangesNothing() async throws {
        try await withServer { client, configuration in
            let files = configuration.dataDirectory + "/files"
            for name in ["a.txt", "b.txt"] { #expect(try await dav(client, .put, "/dav/" + name, body: name).status == .created) }
            #expect(try await Self.run(["mkdir", "into"], port: client.port!).status == 0)
            let refused = try await Self.run(["mv", "--atomic", "a.txt", "b.txt", "missing.txt", "into/"], port: client.port!)
            #expect(refused.status == 3)
            #expect(refused.output.contains("missing.txt  404 Not Found"))
            #expect(refused.output.contains("a.txt        424 Failed Dependency"))
            #expect(refused.output.hasSuffix("the atomic batch was refused (404): nothing was applied\n"))
            #expect(filesOnDisk(files) == ["a.txt", "b.txt"])

            let moved = try await Self.run(["mv", "--atomic", "a.txt", "b.txt", "into/", "--json"], port: client.port!)
            #expect(moved.status == 0)
            let body = try MultiStatusReader.read(Array(moved.output.utf8), format: .json, collection: FileOperationTests.collection)
            #expect(body.items.map(\.location) == ["/files/into/a.txt", "/files/into/b.txt"])
            #expect(filesOnDisk(files) == ["into/a.txt", "into/b.txt"])
        }
    }

    @Test func badArgumentsAndAnUnreachableServerAreExit1() async throws {
        let port = try await closedPort()
        let unknown = try await runCommand(["rm", "a.txt", "--bogus"])
        #expect(unknown.status == 1)
        #expect(unknown.errors.contains("Unknown option '--bogus'"))
        let nothing = try await runCommand(["mv", "only-one"])
        #expect(nothing.status == 1)
        let unreachable = try await Self.run(["rm", "a.txt"], port: port)
        #expect(unreachable.status == 1)
        #expect(!unreachable.errors.isEmpty)
    }

    @Test func progressIsShownOnATerminalAndNeverIntoAPipe() async throws {
        let python = try #require(ProcessInfo.processInfo.environment["MULTISTATUS_TEST_PYTHON"], "MULTISTATUS_TEST_PYTHON is not set")
        try await withTemporaryDirectory { local in
            _ = try Self.makeTree(local, count: 40, badNames: false)
            try await withServer { client, _ in
                let url = "http://127.0.0.1:\(client.port!)"
                // Under a pseudo-terminal, as in an interactive shell: the bar is drawn on standard error.
                let terminal = try await runProgram(
                    "/usr/bin/env",
                    [
                        "-u", "NO_COLOR", python, "-c", "import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)", ServeCommandTests.executable.path,
                        "upload", local + "/tree",
                        "--to", "t", "--parents", "--server", url,
                    ])
                #expect(terminal.status == 0, "\(terminal.output)")
                #expect(terminal.output.contains("40/40 files"))
                #expect(terminal.output.contains("MiB/s"))
                #expect(terminal.output.contains("\u{1B}[32m"), "the statuses are coloured on a terminal")

                let piped = try await runCommand(["upload", local + "/tree", "--to", "p", "--parents", "--server", url])
                #expect(piped.status == 0)
                #expect(!piped.output.contains("MiB/s") && !piped.errors.contains("MiB/s"))
                #expect(!piped.output.contains("\u{1B}"))
            }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aCSVUpdateWithAnUnknownKeyNamesThatRowAndAppliesTheOthers(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await operatorSQL(db, "INSERT INTO authors (id, name, active) VALUES (1, 'Ann', TRUE), (2, 'Bo', TRUE), (3, 'Cy', FALSE)")
            try await withTemporaryDirectory { folder in
                // Values typed by the table's schema: ids and booleans as JSON numbers and booleans,
                // a quoted name with a comma and a doubled quote.
                let csv = "id,name,active\n1,\"Ann, \"\"the first\"\"\",false\n99,Nobody,true\r\n3,Cy,true\n"
                try Data(csv.utf8).write(to: URL(fileURLWithPath: folder + "/authors.csv"))
                let result = try await Self.run(["records", "update", "authors", folder + "/authors.csv"], port: client.port!)
                #expect(result.status == 2, "\(result.output)\(result.errors)")
                let failed = result.output.split(separator: "\n").filter { $0.contains("404") }
                #expect(failed.count == 1 && failed[0].hasPrefix("99 "), "\(result.output)")
                #expect(result.output.hasSuffix("3 items: 2 succeeded, 1 failed\n"))
                let rows = try await storedRows(db, "SELECT id, name, active FROM authors ORDER BY id", columns: ["id", "name", "active"])
                #expect(rows.map { [$0[0], $0[1]] } == [["1", "Ann, \"the first\""], ["2", "Bo"], ["3", "Cy"]])
                // SQLite gives 0 and 1; PostgreSQL its binary bytes 0x00 and 0x01.
                #expect(rows.map { ["1", "\u{01}"].contains($0[2]) } == [false, true, true])

                // Deleting by key from CSV, in batches of the item limit.
                try Data("id\n1\n2\n99\n".utf8).write(to: URL(fileURLWithPath: folder + "/gone.csv"))
                let deleted = try await Self.run(["records", "delete", "authors", folder + "/gone.csv", "--json"], port: client.port!)
                #expect(deleted.status == 2)
                let body = try MultiStatusReader.read(Array(deleted.output.utf8), format: .json, collection: tableCollection("deletions", "authors"))
                #expect(body.items.map(\.status.code) == [204, 204, 404])
                #expect(try await storedRows(db, "SELECT id FROM authors", columns: ["id"]) == [["3"]])
            }
        }
    }

    @Test func retryResendsExactlyTheItemsThatMayPass() async throws {
        let flaky = ClientRetryTests.FlakyService(
            path: "tables/things", collection: ResourceCollection(key: "updates", identifierKey: "key", hrefPrefix: "/tables/things/"))
        try await withTemporaryDirectory { folder in
            try Data(#"[{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}, {"id": 5}]"#.utf8).write(to: URL(fileURLWithPath: folder + "/rows.json"))
            try await flaky.run { port in
                let once = try await Self.run(["records", "update", "things", folder + "/rows.json"], port: port)
                #expect(once.status == 2)
                #expect(once.output.contains("503 Service Unavailable") && once.output.contains("retry after 1 s"))

                flaky.seen.withLock { $0 = [] }
                flaky.requests.withLock { $0 = [] }
                let retried = try await Self.run(["records", "update", "things", folder + "/rows.json", "--retry", "3"], port: port)
                #expect(retried.status == 0, "\(retried.output)")
                #expect(retried.output.hasSuffix("5 items: 5 succeeded, 0 failed\n"))
                #expect(flaky.requests.withLock { $0 } == [[1, 2, 3, 4, 5], [1, 3, 5]])
            }
        }
    }

    @Test func lsListsAFolderAndGetDownloadsFilesOrOneZip() async throws {
        try await withServer { client, _ in
            #expect(try await dav(client, .mkcol, "/dav/docs").status == .created)
            #expect(try await dav(client, .mkcol, "/dav/docs/inner").status == .created)
            for name in ["docs/b.txt", "docs/a b.txt", "docs/inner/c.txt"] {
                #expect(try await dav(client, .put, "/dav/" + name.replacingOccurrences(of: " ", with: "%20"), body: name).status == .created)
            }
            let port = client.port!
            let short = try await Self.run(["ls", "docs"], port: port)
            #expect(short.status == 0)
            #expect(short.output == "a b.txt\nb.txt\ninner/\n")
            let long = try await Self.run(["ls", "docs", "--long"], port: port)
            #expect(long.output.split(separator: "\n").first?.hasPrefix("          12  ") == true, "\(long.output)")
            #expect(try await Self.run(["ls", "missing"], port: port).status == 1)

            try await withTemporaryDirectory { local in
                let got = try await Self.run(["get", "docs/a b.txt", "docs/missing.txt", "docs/inner", "--into", local], port: port)
                #expect(got.status == 2)
                #expect(FileManager.default.contents(atPath: local + "/a b.txt") == Data("docs/a b.txt".utf8))
                #expect(got.output.contains("404 Not Found") && got.output.contains("--archive"))
                let zip = try await Self.run(["get", "docs", "--archive", local + "/docs.zip"], port: port)
                #expect(zip.status == 0)
                let python = ProcessInfo.processInfo.environment["MULTISTATUS_TEST_PYTHON"] ?? "python3"
                let names = try await runProgram(
                    python, ["-c", "import sys, zipfile; print(sorted(zipfile.ZipFile(sys.argv[1]).namelist()))", local + "/docs.zip"])
                #expect(names.output == "['docs/', 'docs/a b.txt', 'docs/b.txt', 'docs/inner/', 'docs/inner/c.txt']\n")
            }
        }
    }

    @Test func lintFindsOurOwnAnswersCleanAndTheSeedsExampleNot() async throws {
        try await withServer { client, _ in
            let base = "http://127.0.0.1:\(client.port!)"
            #expect(try await dav(client, .put, "/dav/a%20b.txt", body: "x").status == .created)
            for accept in ["application/json", "application/xml", "application/x-ndjson"] {
                let result = try await runCommand(["lint", base + "/check-statuses", "--header", "Accept: " + accept])
                #expect(result.status == 0 && result.output == "clean: a well-formed 207\n", "\(accept): \(result.output)\(result.errors)")
            }
            let propfind = try await runCommand(["lint", base + "/dav/", "--method", "PROPFIND", "--header", "Depth: 1"])
            #expect(propfind.status == 0, "\(propfind.output)")
            // Items that failed are no finding: the answer is still one a client reads right.
            let failures = try await runCommand([
                "lint", base + "/file-operations", "--method", "POST", "--data", #"[{"op": "delete", "path": "missing"}]"#,
            ])
            #expect(failures.status == 0, "\(failures.output)")

            try await withTemporaryDirectory { folder in
                try Data("HTTP/1.1 207 Multi-Status\r\nContent-Type: application/json\r\n\r\n{\"status\": \"Some error occurred\"}".utf8)
                    .write(to: URL(fileURLWithPath: folder + "/seed.http"))
                let seed = try await runCommand(["lint", folder + "/seed.http"])
                #expect(seed.status == 2)
                #expect(seed.output == "no-list: no list of items, only status\n")
            }
        }
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsNameEveryCommand(shell: String) async throws {
        let script = try await runCommand(["--generate-completion-script", shell])
        #expect(script.status == 0)
        for command in ["upload", "rm", "mv", "cp", "mkdir", "ls", "get", "records", "check", "lint", "token", "serve"] {
            #expect(script.output.contains(command), "\(shell): \(command)")
        }
        let help = try await runCommand(["upload", "--help"])
        #expect(
            help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains(
                "Exit status: 0 every item succeeded; 2 some items failed; 1 the request itself failed"))
    }
}
