import Foundation
import MultiStatusClient
import MultiStatusServer
import Testing

/// The account and token files as an operator writes them: what is read, and what refuses start-up.
@Suite struct AccountFileTests {
    /// Reads `text` as an account file (or a token file) with the public loader the server uses.
    private func load(_ text: String, tokens: Bool = false) throws -> [Account] {
        try withTemporaryDirectorySync { folder in
            let path = folder + "/file"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return try AccountDirectory(accountFile: tokens ? nil : path, tokenFile: tokens ? path : nil, logger: testLogger()).accounts
        }
    }

    /// The line number and reason of the error `text` refuses start-up with.
    private func refusal(_ text: String, tokens: Bool = false) -> (line: Int?, reason: String)? {
        do {
            _ = try self.load(text, tokens: tokens)
            return nil
        } catch let error as AccountFileError {
            return (error.line, error.reason)
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test func htpasswdLinesWithCommentsBlankLinesAndCRLFAreRead() throws {
        let text = """
            # accounts of the team\r
            \(htpasswdFixture):write:alice\r
            \r
               bob:\(htpasswdHash("b")):read   \r
            carol:$2a$04$\(String(repeating: "a", count: 53)):write:shared/carol/\r
            dave:$2b$04$\(String(repeating: "b", count: 53)):read:
            """
        let accounts = try self.load(text)
        #expect(accounts.map(\.name) == ["alice", "bob", "carol", "dave"])
        #expect(accounts[0].permission == .write && accounts[0].root.description == "alice")
        #expect(accounts[1].permission == .read && accounts[1].root == .root)
        #expect(accounts[2].root.description == "shared/carol")
        #expect(accounts[3].root == .root)
        #expect(accounts.allSatisfy { $0.credential == .password })
    }

    @Test(arguments: [
        ("alice", 1, "expected name:BCRYPT-HASH:read|write[:ROOT]"),
        ("alice:$2y$05$abc:write", 1, "the hash must be a bcrypt hash"),
        ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=:write", 1, "the hash must be a bcrypt hash"),
        ("alice:$1$abc$abcdefgh:write", 1, "the hash must be a bcrypt hash"),
        ("alice:$2y$03$\(String(repeating: "a", count: 53)):write", 1, "cost 04 to 31"),
        ("# ok\n\nalice:\(String(htpasswdFixture.dropFirst(6))):admin", 3, "the permission must be read or write, not \"admin\""),
        ("alice:\(String(htpasswdFixture.dropFirst(6))):read:../bob", 1, "the root \"../bob\" is not a folder of the store"),
        ("alice:\(String(htpasswdFixture.dropFirst(6))):read:/srv/alice", 1, "must be relative to the store"),
        (":\(String(htpasswdFixture.dropFirst(6))):read", 1, "the name must be 1 to 255 bytes"),
        ("\(htpasswdFixture):read\nbob:x:read", 2, "the hash must be a bcrypt hash"),
        ("\(htpasswdFixture):read\n\(htpasswdFixture):write", 2, "alice is already named on line 1"),
    ])
    func aMalformedLineRefusesStartAndIsNamed(text: String, line: Int, reason: String) {
        let refusal = self.refusal(text)
        #expect(refusal?.line == line, "\(String(describing: refusal))")
        #expect(refusal?.reason.contains(reason) == true, "\(String(describing: refusal))")
    }

    @Test func aFileThatIsNotUTF8OrMissingRefusesStart() throws {
        try withTemporaryDirectorySync { folder in
            let path = folder + "/bytes"
            try Data([0x61, 0xFF, 0x3A]).write(to: URL(fileURLWithPath: path))
            #expect(throws: AccountFileError.self) { try AccountDirectory(accountFile: path, tokenFile: nil, logger: testLogger()) }
            let missing = folder + "/none"
            let error = #expect(throws: AccountFileError.self) { try AccountDirectory(accountFile: missing, tokenFile: nil, logger: testLogger()) }
            #expect(error?.description.hasPrefix("\(missing) cannot be read") == true)
        }
    }

    @Test func tokenLinesNeedASHA256() throws {
        let digest = String(repeating: "ab", count: 32)
        let accounts = try self.load("backup:\(digest):read:alice\nci:\(digest.uppercased()):write", tokens: true)
        #expect(accounts.map(\.name) == ["backup", "ci"])
        #expect(accounts.allSatisfy { $0.credential == .token })
        #expect(accounts[0].root.description == "alice")
        #expect(self.refusal("ci:abc:write", tokens: true)?.reason.contains("64 hexadecimal digits") == true)
        #expect(self.refusal("ci:\(String(repeating: "g", count: 64)):write", tokens: true)?.line == 1)
    }

    @Test func tokenCreateAppendsOnlyTheHashAndRefusesATakenName() throws {
        try withTemporaryDirectorySync { folder in
            let path = folder + "/tokens"
            let token = try TokenFile.issue(name: "backup", permission: .read, root: "alice", to: path)
            #expect(token.hasPrefix("mst_") && token.count == 47)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text == "backup:\(sha256Hex(Array(token.utf8))):read:alice\n")
            #expect(!text.contains(token))
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            let second = try TokenFile.issue(name: "ci", permission: .write, root: nil, to: path)
            #expect(second != token)
            #expect(try self.loadTokens(path).map(\.name) == ["backup", "ci"])
            #expect(throws: AccountFileError.self) { try TokenFile.issue(name: "ci", permission: .read, root: nil, to: path) }
            #expect(throws: AccountFileError.self) { try TokenFile.issue(name: "a:b", permission: .read, root: nil, to: path) }
            #expect(throws: AccountFileError.self) { try TokenFile.issue(name: "x", permission: .read, root: "../up", to: path) }
            #expect(try self.loadTokens(path).count == 2, "a refused token left nothing behind")
        }
    }

    @Test func garbledFilesAreReadOrRefusedNeverATrap() throws {
        // Mutations of a well-formed file: every byte value, at every kind of position.
        let valid = Array("# team\n\(htpasswdFixture):write:alice\nbob:\(htpasswdHash("b")):read\n".utf8)
        var generator = SeededGenerator(seed: 4918)
        try withTemporaryDirectorySync { folder in
            let path = folder + "/accounts"
            for round in 0..<600 {
                var bytes = valid
                for _ in 0..<(1 + round % 6) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    switch round % 3 {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                    case 1: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                    default: bytes.remove(at: index)
                    }
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                do {
                    _ = try AccountDirectory(accountFile: path, tokenFile: path, logger: testLogger())
                } catch is AccountFileError {
                    // Refused with a reason: what a garbled file should get.
                }
                _ = Credentials.netrc(host: "127.0.0.1", text: String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    private func loadTokens(_ path: String) throws -> [Account] {
        try AccountDirectory(accountFile: nil, tokenFile: path, logger: testLogger()).accounts
    }
}

/// A fresh folder for a synchronous test, removed afterwards.
func withTemporaryDirectorySync<T>(_ body: (String) throws -> T) throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("multistatus-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// A reproducible generator (SplitMix64), so that a failing mutation can be found again.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
