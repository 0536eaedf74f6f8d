import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Makes tokens for `--token-file`: the token is shown once, and only its SHA-256 is kept.
public enum TokenFile {
    /// Makes a random token for `name` and appends `name:SHA256:PERMISSION[:ROOT]` to the file at
    /// `path`, created readable by its owner only when missing.
    ///
    /// ```swift
    /// let token = try TokenFile.issue(name: "backup", permission: .read, root: nil, to: "tokens")
    /// ```
    /// - Returns: the token, `mst_` and 43 characters of URL-safe base64 (256 random bits).
    /// - Throws: ``AccountFileError`` when the file holds a malformed line or the name already,
    ///   or when the name or root cannot be written to it.
    public static func issue(name: String, permission: Account.Permission, root: String?, to path: String) throws -> String {
        guard !name.contains(":"), !name.contains(where: \.isNewline) else {
            throw AccountFileError(path: path, line: nil, reason: "cannot take the name \(String(reflecting: name)): no ':' or line breaks")
        }
        let existing = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        let entries = try AccountFile.parse(existing, credential: .token, path: path)
        if entries.contains(where: { $0.account.name == name }) {
            throw AccountFileError(path: path, line: nil, reason: "already has a token named \(name)")
        }
        var generator = SystemRandomNumberGenerator()
        let random = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let token =
            "mst_"
            + Data(random).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let line = "\(name):\(SHA256.hash(data: Array(token.utf8)).hex):\(permission.rawValue)" + (root.map { ":" + $0 } ?? "")
        // The new line must read back as written: the parser that reads the file at start checks it.
        do {
            _ = try AccountFile.parse(Array(line.utf8), credential: .token, path: path)
        } catch {
            throw AccountFileError(path: path, line: nil, reason: "cannot take this token: \(error.reason)")
        }
        let text = (existing.isEmpty || existing.last == UInt8(ascii: "\n") ? "" : "\n") + line + "\n"
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw AccountFileError(path: path, line: nil, reason: "cannot be written: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.utf8.count else {
            throw AccountFileError(path: path, line: nil, reason: "cannot be written: \(String(cString: strerror(errno)))")
        }
        return token
    }
}
