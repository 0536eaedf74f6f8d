import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// Accounts over a real socket: challenges, bcrypt once per password, the throttle, the log, reloads, tokens.
@Suite struct AuthenticationTests {
    @Test func aRequestWithoutCredentialsGetsTheChallengesAndAProblem() async throws {
        let token = TestToken(name: "ci", token: "mst_test-token", permission: "read")
        try await withAccountsServer([.writer], tokens: [token]) { client, _, _, _ in
            let response = try await client.execute(uri: "/files/", method: .get) { $0 }
            #expect(response.status == .unauthorized)
            #expect(response.headers[values: .wwwAuthenticate] == [#"Basic realm="MultiStatus", charset="UTF-8""#, #"Bearer realm="MultiStatus""#])
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try json(response.body)
            #expect(problem["status"] as? Int == 401)
            #expect(problem["detail"] as? String == "credentials are required: HTTP Basic or a Bearer token")
            // The probes stay anonymous; so do the status pages only with --public-health.
            #expect(try await client.execute(uri: "/livez", method: .get) { $0.status } == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get) { $0.status } == .ok)
            #expect(try await client.execute(uri: "/health", method: .get) { $0.status } == .unauthorized)
        }
    }

    @Test func theHashHtpasswdWroteIsAccepted() async throws {
        try await withTemporaryDirectory { folder in
            let path = folder + "/accounts"
            try Data((htpasswdFixture + ":write\n").utf8).write(to: URL(fileURLWithPath: path))
            let accounts = try AccountDirectory(accountFile: path, tokenFile: nil, logger: testLogger())
            try await withServer({ $0.accounts = accounts }) { client, _ in
                let good = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("alice", "correct horse")) { $0.status }
                #expect(good == .ok)
                let bad = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("alice", "correct horse ")) { $0.status }
                #expect(bad == .unauthorized)
            }
        }
    }

    @Test func aPasswordIsCheckedOnceThenRememberedAndAFailureNever() async throws {
        try await withAccountsServer([.writer]) { client, _, accounts, _ in
            let before = accounts.bcryptChecks
            for _ in 0..<5 {
                #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers) { $0.status } == .ok)
            }
            #expect(accounts.bcryptChecks == before + 1, "five requests, one bcrypt check")
            for _ in 0..<3 {
                let status = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("wendy", "wrong")) { $0.status }
                #expect(status == .unauthorized)
            }
            #expect(accounts.bcryptChecks == before + 4, "every wrong password is checked again")
            // A password with NUL would match its prefix in the C code: refused, remembered or not.
            let cut = try await client.execute(
                uri: "/files/", method: .get, headers: basicAuthorization("wendy", TestAccount.writer.password + "\0x")
            ) {
                $0.status
            }
            #expect(cut == .unauthorized)
        }
    }

    @Test func anUnknownAccountCostsABcryptCheckLikeAWrongPassword() async throws {
        try await withAccountsServer([.writer]) { client, _, accounts, _ in
            let before = accounts.bcryptChecks
            let status = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("nobody", "x")) { $0.status }
            #expect(status == .unauthorized)
            #expect(accounts.bcryptChecks == before + 1)
        }
    }

    @Test func theEleventhFailureWithinAMinuteIs429BeforeAnyBcryptWork() async throws {
        try await withAccountsServer([.writer], { $0.trustedProxies = ["127.0.0.1"] }) { client, _, accounts, _ in
            var attacker = basicAuthorization("wendy", "guess")
            attacker[.xForwardedFor] = "203.0.113.7"
            for attempt in 1...10 {
                let status = try await client.execute(uri: "/files/", method: .get, headers: attacker) { $0.status }
                #expect(status == .unauthorized, "attempt \(attempt)")
            }
            let checks = accounts.bcryptChecks
            let refused = try await client.execute(uri: "/files/", method: .get, headers: attacker) { $0 }
            #expect(refused.status == .tooManyRequests)
            let wait = try #require(refused.headers[.retryAfter].flatMap(Int.init))
            #expect((1...60).contains(wait))
            #expect(try json(refused.body)["status"] as? Int == 429)
            // Even the right password waits: a throttled address learns nothing.
            var right = TestAccount.writer.headers
            right[.xForwardedFor] = "203.0.113.7"
            #expect(try await client.execute(uri: "/files/", method: .get, headers: right) { $0.status } == .tooManyRequests)
            #expect(accounts.bcryptChecks == checks, "refused before any bcrypt check")
            // Another client behind the same proxy is not held up.
            right[.xForwardedFor] = "198.51.100.2"
            #expect(try await client.execute(uri: "/files/", method: .get, headers: right) { $0.status } == .ok)
        }
    }

    @Test func forwardedForIsIgnoredWithoutATrustedProxy() async throws {
        try await withAccountsServer([.writer]) { client, _, _, _ in
            for attempt in 0..<10 {
                var forged = basicAuthorization("wendy", "guess")
                forged[.xForwardedFor] = "192.0.2.\(attempt)"
                let status = try await client.execute(uri: "/files/", method: .get, headers: forged) { $0.status }
                #expect(status == .unauthorized)
            }
            var forged = basicAuthorization("wendy", "guess")
            forged[.xForwardedFor] = "192.0.2.200"
            let status = try await client.execute(uri: "/files/", method: .get, headers: forged) { $0.status }
            #expect(status == .tooManyRequests, "the header names no client when no proxy is trusted")
        }
    }

    @Test func aFailedLoginIsLoggedWithAddressAndNameButNeverThePassword() async throws {
        let logs = CapturedLogs()
        try await withAccountsServer([.writer], logger: logs.logger()) { client, _, _, _ in
            _ = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("wendy", "hunter2-secret")) { $0.status }
            _ = try await client.execute(uri: "/files/", method: .get, headers: basicAuthorization("mallory\nforged", "pw-of-mallory")) { $0.status }
        }
        let failures = logs.records.withLock { $0.filter { $0.message == "login failed" } }
        #expect(failures.count == 2)
        #expect(failures.allSatisfy { $0.level == .warning && $0.metadata["client"] == "127.0.0.1" })
        #expect(failures.map { $0.metadata["account"] } == [#""wendy""#, #""mallory\nforged""#])
        #expect(!logs.text.contains("hunter2-secret") && !logs.text.contains("pw-of-mallory"))
    }

    @Test func anEditedAccountFileCountsFromTheNextRequest() async throws {
        let dave = TestAccount(name: "dave", password: "d-pass", permission: "write")
        try await withAccountsServer([.writer, .reader]) { client, _, accounts, path in
            #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers) { $0.status } == .ok)
            #expect(try await client.execute(uri: "/files/", method: .get, headers: dave.headers) { $0.status } == .unauthorized)
            // wendy out, dave in, rita unchanged; no restart.
            try Data((TestAccount.reader.line + "\n" + dave.line + "\n").utf8).write(to: URL(fileURLWithPath: path))
            #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers) { $0.status } == .unauthorized)
            #expect(try await client.execute(uri: "/files/", method: .get, headers: dave.headers) { $0.status } == .ok)
            #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.reader.headers) { $0.status } == .ok)
            #expect(accounts.accounts.map(\.name) == ["dave", "rita"])

            // A broken edit keeps the accounts in force.
            try Data("dave:not-a-hash:write\n".utf8).write(to: URL(fileURLWithPath: path))
            #expect(try await client.execute(uri: "/files/", method: .get, headers: dave.headers) { $0.status } == .ok)
            #expect(accounts.accounts.map(\.name) == ["dave", "rita"])
        }
    }

    @Test func aChangedFileDropsTheRememberedPasswords() async throws {
        try await withAccountsServer([.writer]) { client, _, accounts, path in
            #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers) { $0.status } == .ok)
            let before = accounts.bcryptChecks
            try Data((TestAccount.writer.line + "\n# edited\n").utf8).write(to: URL(fileURLWithPath: path))
            #expect(try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers) { $0.status } == .ok)
            #expect(accounts.bcryptChecks == before + 1)
        }
    }

    @Test func bearerTokensAuthenticateWithTheirPermissionAndRoot() async throws {
        let reader = TestToken(name: "backup", token: "mst_reader-token", permission: "read", root: "alice")
        let writer = TestToken(name: "ci", token: "mst_writer-token", permission: "write", root: "alice")
        try await withAccountsServer([.writer], tokens: [reader, writer]) { client, configuration, accounts, _ in
            let put = try await dav(client, .put, "/dav/from-ci.txt", headers: bearerAuthorization(writer.token), body: "ci")
            #expect(put.status == .created)
            #expect(FileManager.default.contents(atPath: configuration.dataDirectory + "/files/alice/from-ci.txt") == Data("ci".utf8))
            let get = try await client.execute(uri: "/files/from-ci.txt", method: .get, headers: bearerAuthorization(reader.token)) { $0 }
            #expect(get.status == .ok && String(buffer: get.body) == "ci")
            let refused = try await dav(client, .put, "/dav/x.txt", headers: bearerAuthorization(reader.token), body: "x")
            #expect(refused.status == .forbidden)
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/alice/x.txt"))
            let wrong = try await client.execute(uri: "/files/", method: .get, headers: bearerAuthorization("mst_reader-tokeN")) { $0.status }
            #expect(wrong == .unauthorized)
            #expect(accounts.bcryptChecks == 0, "tokens need no bcrypt")
        }
    }

    @Test func aReadAccountIsRefusedEveryWriteAndAWriteAccountIsNot() async throws {
        try await withAccountsServer([.writer, .reader]) { client, configuration, _, _ in
            let refused = try await dav(client, .put, "/dav/r.txt", headers: TestAccount.reader.headers, body: "r")
            #expect(refused.status == .forbidden)
            #expect(try json(refused.body)["detail"] as? String == "account rita may only read; PUT /dav/r.txt would change it")
            #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory + "/files/r.txt"))
            #expect(try await dav(client, .put, "/dav/w.txt", headers: TestAccount.writer.headers, body: "w").status == .created)
            #expect(try await dav(client, .propfind, "/dav/", headers: TestAccount.reader.headers.merging([.depth: "1"])).status == .multiStatus)
        }
    }

    @Test func malformedCredentialsAre401NeverAServerError() async throws {
        let token = TestToken(name: "ci", token: "mst_t", permission: "read")
        try await withAccountsServer([.writer], tokens: [token]) { client, _, accounts, _ in
            let long = String(repeating: "A", count: 16_000)
            for value in [
                "Basic", "Basic ", "Basic !!!!", "Basic " + Data("no colon".utf8).base64EncodedString(),
                "Basic " + Data(":".utf8).base64EncodedString(),
                "Basic " + Data([0xFF, 0xFE, 0x3A, 0x00]).base64EncodedString(), "Bearer", "Bearer ", "Bearer \u{1}", "Negotiate abc", "Digest x",
                "basic x",
                "Basic " + long, "Bearer " + long,
            ] {
                let status = try await client.execute(uri: "/files/", method: .get, headers: [.authorization: value]) { $0.status }
                #expect(status == .unauthorized, "\(value.prefix(40)): \(status)")
            }
            #expect(try await client.execute(uri: "/livez", method: .get) { $0.status } == .ok)
            #expect(accounts.bcryptChecks <= 3, "only well-formed Basic credentials are checked")
        }
    }

    @Test func statusPagesArePublicWithPublicHealthButWithoutDetails() async throws {
        let port = try await closedPort()
        let cache = try StatusCheckTarget(parsing: "Cache=tcp://127.0.0.1:\(port)")
        try await withAccountsServer(
            [.writer],
            {
                $0.publicHealth = true; $0.checks = [cache]
            }
        ) { client, _, _, _ in
            let anonymous = try await client.execute(uri: "/check-statuses", method: .get) { $0 }
            #expect(anonymous.status == .multiStatus)
            let seen = try read(anonymous.body)
            let down = try #require(seen.items.first { $0.id == "Cache" })
            #expect(down.status.code == 503 && down.message == "Unavailable")
            #expect(down.problem?.detail == nil, "no address of the upstream")
            #expect(down.fields["latencyMs"] == nil && down.fields["checkedAt"] == nil)
            #expect(!String(buffer: anonymous.body).contains("127.0.0.1"))
            let health = try await client.execute(uri: "/health", method: .get) { String(buffer: $0.body) }
            #expect(health.contains(#""status":"fail""#) && !health.contains("127.0.0.1") && !health.contains("output"))

            let signedIn = try await client.execute(uri: "/check-statuses", method: .get, headers: TestAccount.writer.headers) { $0 }
            #expect(try read(signedIn.body).items.first { $0.id == "Cache" }?.problem?.detail?.contains("127.0.0.1:\(port)") == true)
            // Credentials that fail are refused there too, rather than taken for an anonymous caller.
            let bad = try await client.execute(uri: "/health", method: .get, headers: basicAuthorization("wendy", "wrong")) { $0.status }
            #expect(bad == .unauthorized)
            // Everything else still needs an account.
            #expect(try await client.execute(uri: "/files/", method: .get) { $0.status } == .unauthorized)
        }
    }

    @Test func aCORSPreflightOfAnAllowedOriginIsAnsweredWithoutCredentials() async throws {
        try await withAccountsServer([.writer], { $0.corsOrigins = ["https://app.example"] }) { client, _, _, _ in
            let preflight = try await client.execute(
                uri: "/dav/a.txt", method: .options,
                headers: [
                    .origin: "https://app.example", .accessControlRequestMethod: "PROPFIND", .accessControlRequestHeaders: "authorization, depth",
                ]
            ) { $0 }
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example")
            let methods = Set(
                (preflight.headers[.accessControlAllowMethods] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(methods.isSuperset(of: ["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PUT", "DELETE", "POST", "PATCH"]))
            let headers = (preflight.headers[.accessControlAllowHeaders] ?? "").lowercased()
            for name in [
                "authorization", "depth", "destination", "overwrite", "if", "lock-token", "timeout", "prefer", "idempotency-key", "content-type",
            ] {
                #expect(headers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains(name), "\(name)")
            }
            // The request itself needs credentials, and its answer exposes what a page needs.
            var signedIn = TestAccount.writer.headers
            signedIn[.origin] = "https://app.example"
            let put = try await dav(client, .put, "/dav/a.txt", headers: signedIn, body: "a")
            #expect(put.status == .created)
            #expect(put.headers[.accessControlAllowOrigin] == "https://app.example")
            let exposed = Set((put.headers[.accessControlExposeHeaders] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(exposed.isSuperset(of: ["DAV", "ETag", "Lock-Token", "Location"]))
            // Another origin gets no CORS answer, and a preflight of it is not let through.
            let other = try await client.execute(
                uri: "/dav/a.txt", method: .options, headers: [.origin: "https://evil.example", .accessControlRequestMethod: "PUT"]
            ) { $0 }
            #expect(other.status == .unauthorized && other.headers[.accessControlAllowOrigin] == nil)
        }
    }
}

extension HTTPFields {
    /// These fields with those of `other` added.
    func merging(_ other: HTTPFields) -> HTTPFields {
        var fields = self
        for field in other { fields.append(field) }
        return fields
    }
}
