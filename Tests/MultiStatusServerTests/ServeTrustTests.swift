import AsyncHTTPClient
import Foundation
import MultiStatus
import MultiStatusClient
import NIOCore
import NIOSSL
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `multistatus serve` as an operator starts it: safe defaults, TLS with HTTP/2, SIGHUP, tokens, and
/// the client subcommand with credentials. One at a time: each starts processes of its own, and
/// together they loaded a fresh machine's disk enough to slow other suites' probes past 2 s.
@Suite(.serialized) struct ServeTrustTests {
    /// Writes an account file of `accounts` into `folder`; returns its path.
    private func accountFile(_ accounts: [TestAccount], in folder: String) throws -> String {
        let path = folder + "/accounts"
        try Data((accounts.map(\.line).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts the server, runs `body` with the process and its base URL, then stops it.
    private func withServeProcess<T>(
        _ arguments: [String], errors: FileHandle = .nullDevice, _ body: (ChildProcess, String) async throws -> T
    ) async throws -> T {
        let (process, line) = try await startServeProcess(arguments, errors: errors)
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        let url = try #require(line.components(separatedBy: " ").last, "no listen line")
        return try await body(process, url)
    }

    @Test func withoutAccountsItRefusesToListenBeyondLoopbackUnlessAllowed() async throws {
        try await withTemporaryDirectory { folder in
            let refused = try await runCommand(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", folder + "/data"])
            #expect(refused.status != 0)
            let lines = refused.errors.split(separator: "\n").filter { $0.contains("refusing") }
            #expect(lines.count == 1 && lines[0].contains("refusing to listen on 0.0.0.0 without accounts"), "\(refused.errors)")
            #expect(lines.first?.contains("--allow-anonymous") == true)
            #expect(!FileManager.default.fileExists(atPath: folder + "/data/multistatus.sqlite"), "nothing was opened")

            try await self.withServeProcess(["--host", "0.0.0.0", "--port", "0", "--data-dir", folder + "/data", "--allow-anonymous"]) { _, url in
                #expect(url.hasPrefix("http://0.0.0.0:"))
                let port = try #require(url.split(separator: ":").last)
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/livez"), timeout: .seconds(10))
                #expect(response.status == .ok)
            }
        }
    }

    @Test func accountsOnAnOpenAddressWithoutTLSStartWithAWarning() async throws {
        try await withTemporaryDirectory { folder in
            let accounts = try self.accountFile([.writer], in: folder)
            let log = folder + "/stderr"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            try await self.withServeProcess(
                ["--host", "0.0.0.0", "--port", "0", "--data-dir", folder + "/data", "--auth-file", accounts], errors: handle
            ) {
                _, url in
                #expect(url.hasPrefix("http://0.0.0.0:"))
            }
            try handle.close()
            let text = try String(contentsOfFile: log, encoding: .utf8)
            #expect(text.contains("warning") && text.contains("passwords and tokens will cross the network unencrypted"), "\(text)")
        }
    }

    @Test func aMalformedAccountFileRefusesStartNamingTheLine() async throws {
        try await withTemporaryDirectory { folder in
            let path = folder + "/accounts"
            try Data("# team\n\(TestAccount.writer.line)\nbob:plaintext:write\n".utf8).write(to: URL(fileURLWithPath: path))
            let result = try await runCommand(["serve", "--port", "0", "--data-dir", folder + "/data", "--auth-file", path])
            #expect(result.status != 0)
            #expect(result.errors.contains("\(path) line 3: the hash must be a bcrypt hash"), "\(result.errors)")
        }
    }

    @Test func sighupReadsTheAccountsAgainAndRemakesMissingRoots() async throws {
        let alice = TestAccount(name: "alice", password: "a", permission: "write", root: "alice")
        try await withTemporaryDirectory { folder in
            let accounts = try self.accountFile([alice], in: folder)
            let data = folder + "/data"
            try await self.withServeProcess(["--port", "0", "--data-dir", data, "--auth-file", accounts, "--log-level", "error"]) { process, _ in
                #expect(FileManager.default.fileExists(atPath: data + "/files/alice"))
                try FileManager.default.removeItem(atPath: data + "/files/alice")
                kill(process.processIdentifier, SIGHUP)
                #expect(try await eventually { FileManager.default.fileExists(atPath: data + "/files/alice") })
                #expect(process.isRunning, "SIGHUP must not stop the server")
            }
        }
    }

    @Test func tokenCreatePrintsATokenThatTheServerAcceptsAtOnce() async throws {
        try await withTemporaryDirectory { folder in
            let tokens = folder + "/tokens"
            try Data().write(to: URL(fileURLWithPath: tokens))
            try await self.withServeProcess(["--port", "0", "--data-dir", folder + "/data", "--token-file", tokens, "--log-level", "error"]) {
                _, url in
                let created = try await runCommand(["token", "create", "backup", "--permission", "read", "--root", "backup", "--token-file", tokens])
                #expect(created.status == 0, "\(created.errors)")
                let token = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(token.hasPrefix("mst_"))
                #expect(try String(contentsOfFile: tokens, encoding: .utf8).hasPrefix("backup:\(sha256Hex(Array(token.utf8))):read:backup"))

                var request = HTTPClientRequest(url: url + "/files/")
                request.headers.add(name: "Authorization", value: "Bearer " + token)
                let listing = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                #expect(listing.status == .ok)
                let challenge = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/files/"), timeout: .seconds(10))
                #expect(challenge.status == .unauthorized)
                #expect(challenge.headers["WWW-Authenticate"].contains(#"Bearer realm="MultiStatus""#))

                let again = try await runCommand(["token", "create", "backup", "--permission", "write", "--token-file", tokens])
                #expect(again.status != 0 && again.errors.contains("already has a token named backup"), "\(again.errors)")
            }
        }
    }

    @Test func checkStatusesSendsCredentialsFromTheFlagTheTokenOrNetrc() async throws {
        try await withTemporaryDirectory { folder in
            let accounts = try self.accountFile([.writer], in: folder)
            let tokens = folder + "/tokens"
            let token = TestToken(name: "probe", token: "mst_probe-token", permission: "read")
            try Data((token.line + "\n").utf8).write(to: URL(fileURLWithPath: tokens))
            let netrc = folder + "/netrc"
            try Data("machine 127.0.0.1\n  login wendy\n  password \"w-secret 1\"\n".utf8).write(to: URL(fileURLWithPath: netrc))
            let arguments = ["--port", "0", "--data-dir", folder + "/data", "--auth-file", accounts, "--token-file", tokens, "--log-level", "error"]
            try await self.withServeProcess(arguments) { _, url in
                let empty = folder + "/empty-netrc"
                _ = FileManager.default.createFile(atPath: empty, contents: nil)
                let none = try await runCommand(["check-statuses", "--server", url, "--netrc-file", empty])
                #expect(none.status == 1 && none.errors.contains("401"), "\(none.errors)")

                let user = try await runCommand(["check-statuses", "--server", url, "--user", "wendy:w-secret 1"])
                #expect(user.status == 0 && user.output.contains("Database  ") && user.output.contains("200 Active"), "\(user.errors)")
                let bearer = try await runCommand(
                    ["check-statuses", "--server", url, "--netrc-file", empty], environment: ["MULTISTATUS_TOKEN": token.token])
                #expect(bearer.status == 0, "\(bearer.errors)")
                let fromNetrc = try await runCommand(["check-statuses", "--server", url, "--netrc-file", netrc])
                #expect(fromNetrc.status == 0, "\(fromNetrc.errors)")
                // Without a terminal a missing password cannot be asked for: a clear refusal, not a hang.
                // (Run from a terminal, the command would rightly ask on it.)
                let terminal = open("/dev/tty", O_RDWR)
                if terminal >= 0 {
                    close(terminal)
                } else {
                    let noTerminal = try await runCommand(["check-statuses", "--server", url, "--user", "wendy"])
                    #expect(noTerminal.status != 0 && noTerminal.errors.contains("no terminal to ask for wendy's password"), "\(noTerminal.errors)")
                }
            }
        }
    }

    @Test func aMissingPasswordIsAskedForOnTheTerminalWithoutEcho() async throws {
        let python = try ExternalTool("python3")
        try await withTemporaryDirectory { folder in
            let accounts = try self.accountFile([.writer], in: folder)
            try await self.withServeProcess(["--port", "0", "--data-dir", folder + "/data", "--auth-file", accounts, "--log-level", "error"]) {
                _, url in
                // The command runs on a pseudo-terminal; the password is typed once the prompt shows.
                let script = """
                    import os, pty, select, signal, sys, time
                    pid, fd = pty.fork()
                    if pid == 0:
                        os.execv(sys.argv[1], ["multistatus", "check-statuses", "--server", sys.argv[2], "--user", "wendy"])
                    out, deadline, typed = b"", time.time() + 30, False
                    while time.time() < deadline:
                        if not typed and b"Password for wendy: " in out:
                            os.write(fd, sys.argv[3].encode() + b"\\n")
                            typed = True
                        ready, _, _ = select.select([fd], [], [], 0.5)
                        if not ready:
                            continue
                        try:
                            chunk = os.read(fd, 4096)
                        except OSError:
                            break
                        if not chunk:
                            break
                        out += chunk
                    else:
                        os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                    sys.stdout.write(out.decode(errors="replace") + "\\nexit %d" % os.waitstatus_to_exitcode(status))
                    """
                try Data(script.utf8).write(to: URL(fileURLWithPath: folder + "/type-password.py"))
                let result = try await python.run(
                    ["type-password.py", ServeCommandTests.executable.path, url, TestAccount.writer.password], in: folder)
                #expect(result.output.contains("Password for wendy: "), "\(result.output)")
                #expect(
                    result.output.contains("Database  ") && result.output.contains("200 Active") && result.output.hasSuffix("exit 0"),
                    "\(result.output)")
                #expect(!result.output.contains(TestAccount.writer.password), "the password was echoed")
            }
        }
    }

    @Test func tlsServesHTTP2AndHTTP1ToClientsThatTrustItsCAAndNothingInTheClear() async throws {
        let openssl = try ExternalTool("openssl")
        let curl = try ExternalTool("curl")
        try await withTemporaryDirectory { folder in
            try await makeCertificates(openssl, in: folder)
            let accounts = try self.accountFile([.writer], in: folder)
            let arguments = [
                "--port", "0", "--data-dir", folder + "/data", "--auth-file", accounts, "--tls-cert", folder + "/server.pem",
                "--tls-key", folder + "/server.key", "--log-level", "error",
            ]
            try await self.withServeProcess(arguments) { _, url in
                #expect(url.hasPrefix("https://127.0.0.1:"))
                let port = Int(url.split(separator: ":").last!)!
                let versions = try await curl.run(
                    [
                        "-s", "--cacert", "ca.pem", "-u", "wendy:w-secret 1", "-o", "/dev/null", "-w", "%{http_code} %{http_version}\\n", "--http2",
                        url + "/files/",
                        "--next", "-s", "--cacert", "ca.pem", "-u", "wendy:w-secret 1", "-o", "/dev/null", "-w", "%{http_code} %{http_version}\\n",
                        "--http1.1",
                        url + "/files/",
                    ],
                    in: folder)
                #expect(versions.output.split(separator: "\n") == ["200 2", "200 1.1"], "\(versions.output)")
                let upload = try await curl.run(
                    ["-s", "--http2", "--cacert", "ca.pem", "-u", "wendy:w-secret 1", "-F", "files=@ca.pem;filename=ca.txt", url + "/upload"],
                    in: folder)
                #expect(upload.output.contains(#""status":201"#), "\(upload.output)")
                #expect(
                    FileManager.default.contents(atPath: folder + "/data/files/ca.txt") == FileManager.default.contents(atPath: folder + "/ca.pem"))
                let untrusted = try await curl.run(["-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/livez"], in: folder)
                #expect(untrusted.status != 0, "a client that does not trust the CA must not connect")

                // AsyncHTTPClient with the CA, through the client library with credentials.
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .file(folder + "/ca.pem")
                let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
                do {
                    let client = MultiStatusHTTPClient(baseURL: url, httpClient: http, credentials: .basic(user: "wendy", password: "w-secret 1"))
                    let sources = try await client.get("/check-statuses", collection: .sources)
                    #expect(sources.items.map(\.status.code).contains(200))
                    let anonymous = MultiStatusHTTPClient(baseURL: url, httpClient: http)
                    await #expect(throws: MultiStatusHTTPClient.RequestFailed.self) {
                        try await anonymous.get("/check-statuses", collection: .sources)
                    }
                    try await http.shutdown()
                } catch {
                    try? await http.shutdown()
                    throw error
                }
                let cli = try await runCommand(["check-statuses", "--server", url, "--ca-cert", folder + "/ca.pem", "--user", "wendy:w-secret 1"])
                #expect(cli.status == 0, "\(cli.errors)")

                // Plain HTTP to the TLS port: no HTTP answer comes back in the clear.
                let raw = try RawConnection(port: port)
                try await raw.send(Array("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                let answer = try await raw.receive(until: "\r\n\r\n")
                #expect(!answer.contains("HTTP/1.1") && !answer.contains("pass"), "\(answer)")
            }
        }
    }
}

/// A certificate authority (`ca.pem`) and a server certificate for 127.0.0.1 and localhost that it
/// signed (`server.pem`, `server.key`), made by openssl in `folder`.
func makeCertificates(_ openssl: ExternalTool, in folder: String) async throws {
    let steps: [[String]] = [
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days",
            "2",
            "-subj", "/CN=MultiStatus Test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ],
        [
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1",
        ],
        [
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "server.ext",
        ],
    ]
    try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
        .write(to: URL(fileURLWithPath: folder + "/server.ext"))
    for step in steps {
        let result = try await openssl.run(step, in: folder)
        try #require(result.status == 0, "openssl \(step.joined(separator: " ")): \(result.output)")
    }
}
