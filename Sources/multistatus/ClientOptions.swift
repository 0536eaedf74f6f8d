import ArgumentParser
import AsyncHTTPClient
import Foundation
import MultiStatusClient
import NIOSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How the client subcommands reach a server: the credentials (`--user NAME[:PASSWORD]`,
/// `MULTISTATUS_TOKEN` or a netrc file, in that order) and the certificates trusted for HTTPS.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server's base URL (default: $MULTISTATUS_SERVER, else http://127.0.0.1:8080).")
    var server: String?

    /// `--server`, else `MULTISTATUS_SERVER`, else the local default.
    var serverURL: String {
        self.server ?? ProcessInfo.processInfo.environment["MULTISTATUS_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8080"
    }

    @Option(help: "HTTP Basic credentials, NAME[:PASSWORD]; without a password it is asked for on the terminal.")
    var user: String?

    @Option(help: "A netrc file to take the server's login from (default: $NETRC or ~/.netrc).")
    var netrcFile: String?

    @Option(help: "PEM certificates to trust for https:// besides the system's (a server's own CA).")
    var caCert: String?

    /// Runs `body` with a client for ``serverURL``, shut down afterwards. A server that refuses
    /// the connection fails the command at once: the connection is not tried again until the
    /// request's deadline, as a long-running client would.
    func withClient<T>(_ body: (MultiStatusHTTPClient) async throws -> T) async throws -> T {
        let server = self.serverURL
        let credentials = try self.resolve(for: server)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        if let caCert {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caCert)]
            configuration.tlsConfiguration = tls
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(MultiStatusHTTPClient(baseURL: server, httpClient: http, credentials: credentials))
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// The credentials for `server`, or `nil` for none.
    func resolve(for server: String) throws -> Credentials? {
        if let user = self.user {
            if let colon = user.firstIndex(of: ":") {
                return .basic(user: String(user[..<colon]), password: String(user[user.index(after: colon)...]))
            }
            return .basic(user: user, password: try Self.askPassword(for: user))
        }
        if let token = ProcessInfo.processInfo.environment["MULTISTATUS_TOKEN"], !token.isEmpty { return .bearer(token) }
        guard let host = URLComponents(string: server)?.host else { return nil }
        return Credentials.netrc(host: host, path: self.netrcFile)
    }

    /// Reads a password from the terminal without echoing it.
    private static func askPassword(for user: String) throws -> String {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else {
            throw ValidationError("no terminal to ask for \(user)'s password: give --user \(user):PASSWORD or set MULTISTATUS_TOKEN")
        }
        defer { close(tty) }
        // Echo goes off before the prompt shows: TCSAFLUSH drops what was typed before it, and a
        // password typed as soon as the prompt appears must not be dropped.
        var saved = termios()
        let canHide = tcgetattr(tty, &saved) == 0
        if canHide {
            var hidden = saved
            hidden.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(tty, TCSAFLUSH, &hidden)
        }
        let prompt = Array("Password for \(user): ".utf8)
        _ = prompt.withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
        defer {
            if canHide { tcsetattr(tty, TCSAFLUSH, &saved) }
            _ = write(tty, "\n", 1)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(tty, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }
}
