import Foundation
import HTTPTypes
import HummingbirdBcrypt
import HummingbirdTesting
import Logging
import MultiStatusServer
import Synchronization

/// An account of a test's account file.
struct TestAccount: Sendable {
    var name: String
    var password: String
    var permission: String
    var root: String?

    static let writer = TestAccount(name: "wendy", password: "w-secret 1", permission: "write")
    static let reader = TestAccount(name: "rita", password: "r-secret 2", permission: "read")

    /// `Authorization: Basic` with this account's name and password.
    var headers: HTTPFields { basicAuthorization(self.name, self.password) }

    /// The account's line, its hash in `$2y$` form as `htpasswd -nbB` writes it (cost 4, for speed).
    var line: String {
        "\(self.name):\(htpasswdHash(self.password)):\(self.permission)" + (self.root.map { ":" + $0 } ?? "")
    }
}

/// A bcrypt hash as `htpasswd -B` writes it: `$2y$`, the same algorithm as `$2b$`.
func htpasswdHash(_ password: String, cost: UInt8 = 4) -> String {
    "$2y$" + Bcrypt.hash(password, cost: cost).dropFirst(4)
}

/// `alice:correct horse`, hashed by `htpasswd -nbB -C 5 alice 'correct horse'` (apache2-utils 2.4).
let htpasswdFixture = "alice:$2y$05$hr6M1DghNnimMZxCl/W21u55IxalsBpH.RRN5n3pxOUal5XtHNK9O"

func basicAuthorization(_ user: String, _ password: String) -> HTTPFields {
    [.authorization: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
}

func bearerAuthorization(_ token: String) -> HTTPFields {
    [.authorization: "Bearer " + token]
}

/// A token of a test's token file.
struct TestToken: Sendable {
    var name: String
    var token: String
    var permission: String
    var root: String?

    var line: String {
        "\(self.name):\(sha256Hex(Array(self.token.utf8))):\(self.permission)" + (self.root.map { ":" + $0 } ?? "")
    }
}

/// Runs a live server whose account file holds `accounts` (and token file `tokens`, when given).
/// The test gets the client, the configuration, the account directory (its bcrypt counter) and
/// the account file's path, to edit it.
func withAccountsServer<T: Sendable>(
    _ accounts: [TestAccount],
    tokens: [TestToken]? = nil,
    _ configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
    logger: Logger = testLogger(),
    _ test: @escaping @Sendable (any TestClientProtocol, ServerConfiguration, AccountDirectory, String) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { folder in
        let accountFile = folder + "/accounts"
        try Data((accounts.map(\.line).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: accountFile))
        var tokenFile: String?
        if let tokens {
            tokenFile = folder + "/tokens"
            try Data((tokens.map(\.line).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile!))
        }
        let directory = try AccountDirectory(accountFile: accountFile, tokenFile: tokenFile, logger: logger)
        return try await withServer(
            {
                $0.accounts = directory
                configure(&$0)
            }, logger: logger
        ) { client, configuration in
            try await test(client, configuration, directory, accountFile)
        }
    }
}

/// Log records kept for a test to read.
final class CapturedLogs: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let records = Mutex<[Record]>([])

    /// A logger whose records (from `level` up) end here.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "captured") { _ in Handler(logs: self) }
        logger.logLevel = level
        return logger
    }

    /// Everything logged, as one text: messages and metadata.
    var text: String {
        self.records.withLock { records in
            records.map { "\($0.level) \($0.message) \($0.metadata.sorted { $0.key < $1.key })" }.joined(separator: "\n")
        }
    }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let record = Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" })
            self.logs.records.withLock { $0.append(record) }
        }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
