import Foundation
public import MultiStatus

/// A path inside the file store: one or more validated names, never leaving the store.
///
/// Every name is checked by ``validateName(_:)``, so `..`, absolute paths, `\`, NUL and
/// control characters can never reach the file system.
public struct StorePath: Sendable, Hashable, CustomStringConvertible {
    /// The names from the store's root to the item.
    public let components: [String]

    /// The root of the store.
    public static let root = StorePath(validated: [])

    private init(validated components: [String]) {
        self.components = components
    }

    /// The path as `a/b/c.txt` (empty for the root).
    public var description: String { self.components.joined(separator: "/") }

    /// The last name, or `nil` for the root.
    public var name: String? { self.components.last }

    /// The folder that holds this item.
    public var parent: StorePath { StorePath(validated: Array(self.components.dropLast())) }

    /// True when this path is inside the folder `ancestor`, at any depth (not the folder itself).
    public func isBelow(_ ancestor: StorePath) -> Bool {
        self.components.count > ancestor.components.count && self.components.starts(with: ancestor.components)
    }

    /// The path of `path` inside this folder (`alice` + `a/b` → `alice/a/b`).
    public func appending(_ path: StorePath) -> StorePath {
        path.components.isEmpty ? self : StorePath(validated: self.components + path.components)
    }

    /// This path relative to `ancestor` (`alice/a/b` below `alice` → `a/b`); `nil` when it is not
    /// `ancestor` or below it.
    public func relative(to ancestor: StorePath) -> StorePath? {
        if ancestor.components.isEmpty { return self }
        guard self.components.starts(with: ancestor.components) else { return nil }
        return StorePath(validated: Array(self.components.dropFirst(ancestor.components.count)))
    }

    /// This path with one more validated name.
    public func appending(_ name: String) throws(ProblemDetails) -> StorePath {
        StorePath(validated: self.components + [try Self.normalizedName(name)])
    }

    /// This path with the `/`-separated names of `names` (an uploaded file's name with its folders,
    /// `photos/2026/a.jpg`), each validated as a name.
    /// - Throws: a 400 problem: a bad name, or an empty segment (a leading, trailing or double `/`).
    public func appending(names: String) throws(ProblemDetails) -> StorePath {
        var path = self
        for segment in names.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty || !names.contains("/") else {
                throw ProblemDetails(
                    status: .badRequest, detail: "file name \"\(names)\" has an empty folder name (a leading, trailing or double '/')",
                    type: "urn:x-multistatus:problem:bad-name")
            }
            path = try path.appending(String(segment))
        }
        return path
    }

    /// The URL path of this item under `prefix` (`/files/`), percent-encoded.
    public func urlPath(under prefix: String) -> String {
        prefix + PercentEncoding.encodePath(self.description)
    }

    /// Parses a relative path of `/`-separated names (`?dir=a/b`); empty segments are ignored.
    /// - Throws: a 400 problem naming what is wrong.
    public init(relative text: String) throws(ProblemDetails) {
        if text.hasPrefix("/") || text.hasPrefix("\\") {
            throw ProblemDetails(status: .badRequest, detail: "path \"\(text)\" must be relative to the store, not absolute")
        }
        var components: [String] = []
        for segment in text.split(separator: "/", omittingEmptySubsequences: true) {
            components.append(try Self.normalizedName(String(segment)))
        }
        self.init(validated: components)
    }

    /// Parses a percent-encoded URL path below a route prefix (`/files/a%20b/c.txt` → `a b/c.txt`).
    /// - Throws: a 400 problem for malformed encoding or a bad name.
    public init(encodedURLPath text: Substring) throws(ProblemDetails) {
        var components: [String] = []
        for segment in text.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = PercentEncoding.decode(String(segment)) else {
                throw ProblemDetails(status: .badRequest, detail: "path segment \"\(segment)\" is not valid percent-encoded UTF-8")
            }
            components.append(try Self.normalizedName(decoded))
        }
        self.init(validated: components)
    }

    /// Checks a name that comes from a client and puts it in Unicode NFC, the one form names are
    /// stored in: a name sent decomposed (macOS sends NFD) finds the file stored composed, and two
    /// names that differ only in normalization cannot both exist.
    public static func normalizedName(_ name: String) throws(ProblemDetails) -> String {
        let checked = try Self.validateName(name)
        // ASCII is NFC already; anything else goes through the normalizer once.
        if checked.utf8.allSatisfy({ $0 < 0x80 }) { return checked }
        let composed = checked.precomposedStringWithCanonicalMapping
        return composed.utf8.elementsEqual(checked.utf8) ? checked : try Self.validateName(composed)
    }

    /// Checks one file or folder name.
    /// - Returns: the name, unchanged.
    /// - Throws: a 400 problem: empty, `.` or `..`, contains `/` or `\`, NUL or another control
    ///   character, or longer than 255 bytes.
    public static func validateName(_ name: String) throws(ProblemDetails) -> String {
        func refuse(_ reason: String) -> ProblemDetails {
            ProblemDetails(status: .badRequest, detail: "file name \(reason)", type: "urn:x-multistatus:problem:bad-name")
        }
        if name.isEmpty { throw refuse("must not be empty") }
        if name == "." || name == ".." { throw refuse("must not be \".\" or \"..\"") }
        // One pass over the bytes: listings validate every name they read.
        var slash = false, backslash = false, nul = false, control = false, replacement = false, bidi = false
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "/"): slash = true
            case UInt8(ascii: "\\"): backslash = true
            case 0: nul = true
            case 1..<0x20, 0x7F: control = true
            case 0xBD where previous == (0xEF, 0xBF): replacement = true
            // U+202A–U+202E and U+2066–U+2069: E2 80 AA–AE, E2 81 A6–A9.
            case 0xAA...0xAE where previous == (0xE2, 0x80), 0xA6...0xA9 where previous == (0xE2, 0x81): bidi = true
            default: break
            }
            previous = (previous.1, byte)
        }
        if slash { throw refuse("must not contain '/'") }
        if backslash { throw refuse("must not contain '\\'") }
        if nul { throw refuse("must not contain NUL") }
        if control { throw refuse("must not contain control characters") }
        if replacement { throw refuse("must be valid UTF-8") }
        if bidi { throw refuse("must not contain bidirectional controls (U+202A–U+202E, U+2066–U+2069), which disguise a name") }
        if name.utf8.count > 255 { throw refuse("must be at most 255 bytes (is \(name.utf8.count))") }
        return name
    }
}
