import Foundation

/// What a client proves itself with: HTTP Basic or a bearer token.
///
/// ```swift
/// let client = MultiStatusHTTPClient(baseURL: "https://files.example", credentials: .basic(user: "alice", password: "…"))
/// let fromNetrc = Credentials.netrc(host: "files.example")
/// ```
public enum Credentials: Sendable, Hashable {
    /// `Authorization: Basic`.
    case basic(user: String, password: String)
    /// `Authorization: Bearer`.
    case bearer(String)

    /// The `Authorization` header value.
    public var authorization: String {
        switch self {
        case .basic(let user, let password): "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .bearer(let token): "Bearer " + token
        }
    }

    /// The login and password for `host` in a netrc file (`machine HOST login NAME password SECRET`),
    /// or its `default` entry; `nil` when it has neither or cannot be read.
    /// - Parameter path: the file; `$NETRC`, else `~/.netrc`.
    public static func netrc(host: String, path: String? = nil) -> Credentials? {
        let file = path ?? ProcessInfo.processInfo.environment["NETRC"] ?? (NSHomeDirectory() + "/.netrc")
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return Self.netrc(host: host, text: String(decoding: data, as: UTF8.self))
    }

    /// The same, from the text of a netrc file.
    public static func netrc(host: String, text: String) -> Credentials? {
        var words = NetrcWords(text)
        var fallback: Credentials?
        var entry: (host: String?, login: String?, password: String?)?
        func close() -> Credentials? {
            guard let current = entry, let login = current.login, let password = current.password else { return nil }
            let credentials = Credentials.basic(user: login, password: password)
            if current.host == nil {
                fallback = fallback ?? credentials
                return nil
            }
            return current.host?.lowercased() == host.lowercased() ? credentials : nil
        }
        while let word = words.next() {
            switch word {
            case "machine":
                if let found = close() { return found }
                entry = (words.next() ?? "", nil, nil)
            case "default":
                if let found = close() { return found }
                entry = (nil, nil, nil)
            case "login": entry?.login = words.next()
            case "password": entry?.password = words.next()
            case "account": _ = words.next()
            case "macdef":
                // A macro's name, then its lines up to an empty line: nothing of it is a credential.
                if let found = close() { return found }
                entry = nil
                words.skipMacro()
            default: break
            }
        }
        return close() ?? fallback
    }
}

/// The whitespace-separated words of a netrc file; `"…"` quotes a word with spaces, `\` escapes.
private struct NetrcWords {
    private let characters: [Character]
    private var index = 0

    init(_ text: String) { self.characters = Array(text) }

    mutating func next() -> String? {
        while index < characters.count, characters[index].isWhitespace { index += 1 }
        guard index < characters.count else { return nil }
        var word = ""
        if characters[index] == "\"" {
            index += 1
            while index < characters.count, characters[index] != "\"" {
                if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                word.append(characters[index])
                index += 1
            }
            index += 1
            return word
        }
        while index < characters.count, !characters[index].isWhitespace {
            if characters[index] == "\\", index + 1 < characters.count { index += 1 }
            word.append(characters[index])
            index += 1
        }
        return word
    }

    /// Skips a macro definition: its name's line and the lines after it, up to an empty line.
    mutating func skipMacro() {
        var previousWasNewline = false
        while index < characters.count {
            let character = characters[index]
            index += 1
            if character.isNewline {
                if previousWasNewline { return }
                previousWasNewline = true
            } else {
                previousWasNewline = false
            }
        }
    }
}
