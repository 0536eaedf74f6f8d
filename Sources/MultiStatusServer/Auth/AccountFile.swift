/// One line of an account file (`name:HASH:PERMISSION[:ROOT]`) or token file (`name:SHA256:PERMISSION[:ROOT]`).
struct AccountEntry: Sendable, Hashable {
    /// What a request that proves this entry may do.
    var account: Account
    /// What proves it.
    var secret: Secret

    enum Secret: Sendable, Hashable {
        /// A bcrypt hash as `htpasswd -B` writes it, with `$2y$` rewritten to the identical `$2b$`
        /// (the bcrypt code verifies `$2a$` and `$2b$` only), and its cost.
        case bcrypt(String, cost: Int)
        /// The SHA-256 of a token, 32 bytes.
        case sha256([UInt8])
    }
}

/// Reads account and token files. Malformed input is an error that names the line; nothing here traps.
enum AccountFile {
    /// Parses the text of an account file (`credential` `.password`) or a token file (`.token`).
    ///
    /// `#` comments and blank lines are skipped; every other line must be well formed, and a name
    /// may appear once.
    /// - Parameter path: the file's path, for error messages.
    static func parse(_ bytes: [UInt8], credential: Account.Credential, path: String) throws(AccountFileError) -> [AccountEntry] {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw AccountFileError(path: path, line: nil, reason: "is not UTF-8 text")
        }
        var entries: [AccountEntry] = []
        var lineOfName: [String: Int] = [:]
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let entry: AccountEntry
            do {
                entry = try Self.entry(line, credential: credential)
            } catch {
                throw AccountFileError(path: path, line: number, reason: error.reason)
            }
            if let earlier = lineOfName.updateValue(number, forKey: entry.account.name) {
                throw AccountFileError(path: path, line: number, reason: "\(entry.account.name) is already named on line \(earlier)")
            }
            entries.append(entry)
        }
        return entries
    }

    /// The form of a line, for error messages.
    private static func form(_ credential: Account.Credential) -> String {
        credential == .password ? "name:BCRYPT-HASH:read|write[:ROOT]" : "name:SHA256-HEX:read|write[:ROOT]"
    }

    private static func entry(_ line: Substring, credential: Account.Credential) throws(LineError) -> AccountEntry {
        let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count >= 3 else { throw LineError("expected \(Self.form(credential))") }
        let name = String(fields[0])
        guard !name.isEmpty, name.utf8.count <= 255 else { throw LineError("the name must be 1 to 255 bytes") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw LineError("the name must not contain control characters")
        }
        let secret: AccountEntry.Secret
        switch credential {
        case .password: secret = try Self.bcryptHash(fields[1])
        case .token: secret = .sha256(try Self.sha256(fields[1]))
        }
        guard let permission = Account.Permission(rawValue: String(fields[2])) else {
            throw LineError("the permission must be read or write, not \"\(fields[2])\"")
        }
        var root = StorePath.root
        if fields.count == 4 {
            do {
                root = try StorePath(relative: String(fields[3]))
            } catch {
                throw LineError("the root \"\(fields[3])\" is not a folder of the store: \(error.detail ?? "bad path")")
            }
        }
        return AccountEntry(account: Account(name: name, permission: permission, root: root, credential: credential), secret: secret)
    }

    /// `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, `$`, then 53 characters of bcrypt's base64.
    private static func bcryptHash(_ field: Substring) throws(LineError) -> AccountEntry.Secret {
        let bytes = Array(field.utf8)
        let alphabet: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "a")...UInt8(ascii: "z"):
                true
            default: false
            }
        }
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]), bytes[3] == UInt8(ascii: "$"),
            bytes[6] == UInt8(ascii: "$"), bytes[7...].allSatisfy(alphabet),
            let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost)
        else {
            throw LineError("the hash must be a bcrypt hash as htpasswd -nB writes it ($2y$, $2b$ or $2a$, cost 04 to 31, 60 characters)")
        }
        var normalized = bytes
        if normalized[2] == UInt8(ascii: "y") { normalized[2] = UInt8(ascii: "b") }
        return .bcrypt(String(decoding: normalized, as: UTF8.self), cost: cost)
    }

    /// 64 hexadecimal digits.
    private static func sha256(_ field: Substring) throws(LineError) -> [UInt8] {
        let digits = Array(field.utf8)
        guard digits.count == 64, let bytes = Hex.decode(digits) else {
            throw LineError("the token hash must be 64 hexadecimal digits (the SHA-256 of the token)")
        }
        return bytes
    }

    /// A line's fault, before the line number is known.
    private struct LineError: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

/// An account or token file that cannot be used, with the line to fix.
public struct AccountFileError: Error, CustomStringConvertible, Sendable {
    /// The file.
    public let path: String
    /// The line, counted from 1; `nil` when the fault is the whole file.
    public let line: Int?
    /// What is wrong.
    public let reason: String

    public var description: String {
        if let line { return "\(self.path) line \(line): \(self.reason)" }
        return "\(self.path) \(self.reason)"
    }
}

/// Bytes from hexadecimal text.
enum Hex {
    /// The bytes of an even number of hexadecimal digits (either case); `nil` for anything else.
    static func decode(_ digits: [UInt8]) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

extension Substring {
    /// The text without leading and trailing spaces, tabs and carriage returns.
    func trimmingSpaces() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }) else { return self[self.endIndex...] }
        let last = self.lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}
