import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// The web console: its page and security headers, its session cookie and CSRF token over a real
/// socket, and its flows in headless Chromium (Tests/Console/console_test.py, with Selenium).
@Suite struct ConsoleTests {
    static let csrf = HTTPField.Name("X-CSRF-Token")!

    /// Signs `account` in: the cookie (name=value) and the CSRF token.
    static func signIn(_ client: some TestClientProtocol, _ account: TestAccount) async throws -> (cookie: String, csrf: String, setCookie: String) {
        let body = #"{"name": \#(JSONValue.string(account.name).jsonText), "password": \#(JSONValue.string(account.password).jsonText)}"#
        return try await client.execute(
            uri: "/ui/session", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
        ) {
            response in
            #expect(response.status == .ok)
            let setCookie = response.headers[.setCookie] ?? ""
            let session = try JSONValue.parse(response.body.readableBytesView)
            return (String(setCookie.split(separator: ";")[0]), session.objectMembers["csrf"]?.stringValue ?? "", setCookie)
        }
    }

    @Test func thePageIsServedWithAStrictPolicyAndWithoutCredentials() async throws {
        try await withAccountsServer([.writer]) { client, _, _, _ in
            for uri in ["/ui", "/ui/", "/ui/console.js", "/ui/console.css"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri)")
                    let policy = response.headers[.init("Content-Security-Policy")!] ?? ""
                    #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline") && policy.contains("frame-ancestors 'none'"))
                    #expect(response.headers[.init("X-Content-Type-Options")!] == "nosniff")
                }
            }
            #expect(try await client.execute(uri: "/ui/console.js", method: .get) { $0.headers[.contentType] } == "text/javascript; charset=utf-8")
            #expect(try await client.execute(uri: "/ui/../accounts", method: .get) { $0.status } != .ok)
            #expect(try await client.execute(uri: "/ui/missing.js", method: .get) { $0.status } == .notFound)
        }
    }

    @Test func aSessionCookieWorksOnlyWithItsCSRFTokenForWrites() async throws {
        try await withAccountsServer([.writer, .reader]) { client, configuration, _, _ in
            let files = configuration.dataDirectory + "/files"
            #expect(try await dav(client, .put, "/dav/keep.txt", headers: TestAccount.writer.headers, body: "k").status == .created)
            // A wrong password: 401, no password dialog (no challenge), no cookie.
            try await client.execute(
                uri: "/ui/session", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"name": "wendy", "password": "no"}"#)
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil && response.headers[.wwwAuthenticate] == nil)
            }
            // A form cannot sign in: only JSON.
            #expect(
                try await client.execute(
                    uri: "/ui/session", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "name=wendy&password=w-secret+1")
                ) { $0.status } == .unsupportedMediaType)

            let (cookie, csrf, setCookie) = try await Self.signIn(client, .writer)
            #expect(
                setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/")
                    && !setCookie.contains("Secure"))
            #expect(!csrf.isEmpty)
            // Reads by cookie alone; the console's own 401s carry no challenge.
            #expect(try await client.execute(uri: "/files/keep.txt", method: .get, headers: [.cookie: cookie]) { $0.status } == .ok)
            let who = try await client.execute(uri: "/ui/session", method: .get, headers: [.cookie: cookie]) {
                try JSONValue.parse($0.body.readableBytesView)
            }
            #expect(who.objectMembers["name"] == "wendy" && who.objectMembers["csrf"]?.stringValue == csrf)
            let anonymous = try await client.execute(uri: "/files/", method: .get, headers: [.init("X-MultiStatus-Console")!: "1"]) { $0 }
            #expect(anonymous.status == .unauthorized && anonymous.headers[.wwwAuthenticate] == nil)

            // A write by cookie without the token, or with another: 403, nothing changed.
            let delete = ByteBuffer(string: #"[{"op": "delete", "path": "keep.txt"}]"#)
            for token in [nil, "forged"] {
                var headers: HTTPFields = [.cookie: cookie, .contentType: "application/json"]
                if let token { headers[Self.csrf] = token }
                #expect(try await client.execute(uri: "/file-operations", method: .post, headers: headers, body: delete) { $0.status } == .forbidden)
            }
            #expect(filesOnDisk(files) == ["keep.txt"])
            // With the token: done.
            let deleted = try await client.execute(
                uri: "/file-operations", method: .post, headers: [.cookie: cookie, .contentType: "application/json", Self.csrf: csrf], body: delete
            ) { $0.status }
            #expect(deleted == .multiStatus)
            #expect(filesOnDisk(files).isEmpty)

            // HTTP Basic works beside it, and needs no token.
            #expect(try await dav(client, .put, "/dav/basic.txt", headers: TestAccount.writer.headers, body: "b").status == .created)

            // A read account signed in may read, not write, whatever the token.
            let reader = try await Self.signIn(client, .reader)
            #expect(
                try await client.execute(
                    uri: "/file-operations", method: .post,
                    headers: [.cookie: reader.cookie, .contentType: "application/json", Self.csrf: reader.csrf],
                    body: ByteBuffer(string: #"[{"op": "delete", "path": "basic.txt"}]"#)
                ) { $0.status } == .forbidden)
            #expect(filesOnDisk(files) == ["basic.txt"])

            // Signing in again over a live session needs no token (the page may have lost it).
            let again = try await client.execute(
                uri: "/ui/session", method: .post, headers: [.cookie: reader.cookie, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name": "rita", "password": "r-secret 2"}"#)
            ) { $0.status }
            #expect(again == .ok)

            // Sign-out ends the session: the cookie opens nothing after it.
            try await client.execute(uri: "/ui/session", method: .delete, headers: [.cookie: cookie, Self.csrf: csrf]) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            #expect(try await client.execute(uri: "/files/", method: .get, headers: [.cookie: cookie]) { $0.status } == .unauthorized)
        }
    }

    @Test func aSessionSeesOnlyItsAccountsRoot() async throws {
        let alice = TestAccount(name: "alice", password: "a-pass", permission: "write", root: "alice")
        try await withAccountsServer([alice, .writer]) { client, configuration, _, _ in
            #expect(try await dav(client, .put, "/dav/secret.txt", headers: TestAccount.writer.headers, body: "s").status == .created)
            let (cookie, csrf, _) = try await Self.signIn(client, alice)
            let listing = try await client.execute(uri: "/files/", method: .get, headers: [.cookie: cookie]) { String(buffer: $0.body) }
            #expect(!listing.contains("secret.txt") && !listing.contains("alice"))
            #expect(try await client.execute(uri: "/files/secret.txt", method: .get, headers: [.cookie: cookie]) { $0.status } == .notFound)
            let deleted = try await client.execute(
                uri: "/file-operations", method: .post, headers: [.cookie: cookie, .contentType: "application/json", Self.csrf: csrf],
                body: ByteBuffer(string: #"[{"op": "delete", "path": "../secret.txt"}, {"op": "delete", "path": "secret.txt"}]"#)
            ) { try read($0.body, .json, FileOperationTests.collection) }
            #expect(deleted.items.map(\.status.code) == [400, 404])
            #expect(FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/secret.txt"))
        }
    }

    @Test func sessionsEndWhenIdleAndWithTheirAccount() async throws {
        let sessions = ConsoleSessions(idleLifetime: .milliseconds(200), lifetime: .seconds(60))
        let (cookie, _) = sessions.start(account: "wendy")
        #expect(sessions.session(cookie)?.account == "wendy")
        try await Task.sleep(for: .milliseconds(300))
        #expect(sessions.session(cookie) == nil)
        #expect(sessions.session("not-a-session") == nil)
    }

    @Test func theConsoleFlowsInChromium() async throws {
        let python = try #require(ProcessInfo.processInfo.environment["MULTISTATUS_TEST_PYTHON"], "MULTISTATUS_TEST_PYTHON is not set")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let screenshots =
            ProcessInfo.processInfo.environment["MULTISTATUS_TEST_OUTPUT"].map { $0 + "/console" } ?? root.path + "/.build/test-output/console"
        try await withTemporaryDirectory { folder in
            // An operator's table for the records view, and a port for the upstream the script serves and stops.
            let database = folder + "/ops.sqlite"
            let made = try await runProgram(
                python,
                [
                    "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).executescript(sys.argv[2])", database,
                    "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price NUMERIC CHECK (price > 0))",
                ])
            #expect(made.status == 0, "\(made.errors)")
            let upstream = try await closedPort(keep: false)
            try await withAccountsServer(
                [.writer],
                {
                    $0.databaseURL = "sqlite:" + database
                    $0.tables = [TableOptions(name: "books")]
                    $0.checks = [StatusCheckTarget(name: "Upstream", endpoint: .http("http://127.0.0.1:\(upstream)/"))]
                }
            ) { client, configuration, _, _ in
                let result = try await runProgram(
                    python,
                    [
                        root.path + "/Tests/Console/console_test.py", "http://127.0.0.1:\(client.port!)", TestAccount.writer.name,
                        TestAccount.writer.password, configuration.dataDirectory, screenshots, String(upstream), database,
                    ])
                #expect(result.status == 0, "\(result.output)\(result.errors)")
            }
        }
    }
}
