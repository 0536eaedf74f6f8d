import Foundation
import MultiStatusClient
import MultiStatusServer
import Testing

/// The account and token files as an operator writes them: what is read, and what refuses start-up.
@Suite struct AccountFileTests {
    /// Reads `text` as an account file (or a token file) with the public loader the server uses.
    private func load(_ text: String, tokens: Bool = false) async throws -> [Account] {
        try await withTemporaryDirectory { folder in
            let path = folder + "/file"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return try AccountDirectory(accountFile: tokens ? nil : path, tokenFile: tokens ? path : nil, logger: testLogger()).accounts
        }
    }

    /// The line number and reason of the error `text` refuses start-up with.
    private func refusal(_ text: String, tokens: Bool = false) async -> (line: Int?, reason: String)? {
        do {
            _ = try await self.load(text, tokens: tokens)
            return nil
        } catch let error as AccountFileError {
            return (error.line, error.reason)
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test func htpasswdLinesWithCommentsBlankLinesAndCRLFAreRead() async throws {
        let text = """
            # accounts of the team\r
            \(htpasswdFixture):write:alice\r
            \r
               bob:\(htpasswdHash("b")):read   \r
            carol:$2a$04$\(String(repeating: "a", count: 53)):write:shared/carol/\r
            dave:$2b$04$\(String(repeating: "b", count: 53)):read:
            """
        let accounts = try await self.load(text)
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
    func aMalformedLineRefusesStartAndIsNamed(text: String, line: Int, reason: String) async {
        let refusal = await self.refusal(text)
        #expect(refusal?.line == line, "\(String(describing: refusal))")
        #expect(refusal?.reason.contains(reason) == true, "\(String(describing: refusal))")
    }

    @Test func aFileThatIsNotUTF8OrMissingRefusesStart() async throws {
        try await withTemporaryDirectory { folder in
            let path = folder + "/bytes"
            try Data([0x61, 0xFF, 0x3A]).write(to: URL(fileURLWithPath: path))
            #expect(throws: AccountFileError.self) { try AccountDirectory(accountFile: path, tokenFile: nil, logger: testLogger()) }
            let missing = folder + "/none"
            let error = #expect(throws: AccountFileError.self) { try AccountDirectory(accountFile: missing, tokenFile: nil, logger: testLogger()) }
            #expect(error?.description.hasPrefix("\(missing) cannot be read") == true)
        }
    }

    @Test func tokenLinesNeedASHA256() async throws {
        let digest = String(repeating: "ab", count: 32)
        let accounts = try await self.load("backup:\(digest):read:alice\nci:\(digest.uppercased()):write", tokens: true)
        #expect(accounts.map(\.name) == ["backup", "ci"])
        #expect(accounts.allSatisfy { $0.credential == .token })
        #expect(accounts[0].root.description == "alice")
        #expect(await self.refusal("ci:abc:write", tokens: true)?.reason.contains("64 hexadecimal digits") == true)
        #expect(await self.refusal("ci:\(String(repeating: "g", count: 64)):write", tokens: true)?.line == 1)
    }

    @Test func tokenCreateAppendsOnlyTheHashAndRefusesATakenName() async throws {
        try await withTemporaryDirectory { folder in
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

    @Test func garbledFilesAreReadOrRefusedNeverATrap() async throws {
        // Mutations of a well-formed file, the same every run: replaced, inserted and removed bytes of
        // every value, spread over the text by two primes.
        let valid = Array("# team\n\(htpasswdFixture):write:alice\nbob:\(htpasswdHash("b")):read\n".utf8)
        try await withTemporaryDirectory { folder in
            let path = folder + "/accounts"
            for round in 0..<600 {
                var bytes = valid
                for step in 0..<(1 + round % 6) {
                    let index = (round * 7919 + step * 104_729) % bytes.count
                    let byte = UInt8(truncatingIfNeeded: round * 31 + step * 97)
                    switch round % 3 {
                    case 0: bytes[index] = byte
                    case 1: bytes.insert(byte, at: index)
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
