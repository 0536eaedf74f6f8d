import MultiStatus

/// The WebDAV `If` header (RFC 4918 section 10.4): lists of state tokens and entity tags,
/// optionally tagged with the resource they apply to.
///
/// `If: (<urn:uuid:…> ["etag"]) (Not <DAV:no-lock>)` holds when either list holds for the request's
/// resource; `If: </dav/a> (<urn:uuid:…>)` tests `/dav/a` instead.
package struct DAVIfHeader: Sendable, Equatable {
    /// One condition of a list.
    package struct Condition: Sendable, Equatable {
        package enum Test: Sendable, Equatable {
            /// A lock token (or any state token, such as `DAV:no-lock`, which never matches).
            case stateToken(String)
            /// An entity tag, as written, quotes included.
            case entityTag(String)
        }
        package var negated: Bool
        package var test: Test
    }

    /// A parenthesized list: all its conditions must hold.
    package struct List: Sendable, Equatable {
        /// The tagged resource's URL as written, or `nil` for the request's resource.
        package var resource: String?
        package var conditions: [Condition]
    }

    /// The lists; the header holds when any of them holds.
    package var lists: [List]

    /// Every state token named without `Not`: the lock tokens the client submits.
    package var submittedTokens: Set<String> {
        var tokens: Set<String> = []
        for list in self.lists {
            for condition in list.conditions where !condition.negated {
                if case .stateToken(let token) = condition.test { tokens.insert(token) }
            }
        }
        return tokens
    }

    /// Parses the header's value.
    /// - Parameters:
    ///   - maxBytes: the longest header read.
    ///   - maxLists: most parenthesized lists it may hold.
    /// - Throws: a 400 problem naming where it is malformed, or the limit it crosses.
    package init(parsing text: String, maxBytes: Int = 8 << 10, maxLists: Int = 64) throws(ProblemDetails) {
        guard text.utf8.count <= maxBytes else {
            throw ProblemDetails(status: .badRequest, detail: "the If header is over \(maxBytes) bytes", extensions: ["limit": .int(maxBytes)])
        }
        var scanner = Scanner(Array(text.utf8))
        var lists: [List] = []
        var resource: String?
        var sawTag = false
        var sawUntagged = false
        while true {
            scanner.skipSpaces()
            guard let byte = scanner.peek() else { break }
            switch byte {
            case UInt8(ascii: "<"):
                resource = try scanner.delimited(UInt8(ascii: "<"), UInt8(ascii: ">"))
                sawTag = true
            case UInt8(ascii: "("):
                scanner.advance()
                var conditions: [Condition] = []
                while true {
                    scanner.skipSpaces()
                    guard let next = scanner.peek() else { throw Self.malformed("a list is not closed") }
                    if next == UInt8(ascii: ")") {
                        scanner.advance()
                        break
                    }
                    var negated = false
                    if scanner.consume("Not") {
                        negated = true
                        scanner.skipSpaces()
                    }
                    switch scanner.peek() {
                    case UInt8(ascii: "<"):
                        conditions.append(Condition(negated: negated, test: .stateToken(try scanner.delimited(UInt8(ascii: "<"), UInt8(ascii: ">")))))
                    case UInt8(ascii: "["):
                        conditions.append(Condition(negated: negated, test: .entityTag(try scanner.delimited(UInt8(ascii: "["), UInt8(ascii: "]")))))
                    default:
                        throw Self.malformed("expected a <state-token> or an [entity-tag]")
                    }
                }
                guard !conditions.isEmpty else { throw Self.malformed("a list is empty") }
                if resource == nil { sawUntagged = true }
                lists.append(List(resource: resource, conditions: conditions))
                guard lists.count <= maxLists else {
                    throw ProblemDetails(
                        status: .badRequest, detail: "the If header has more than \(maxLists) lists", extensions: ["limit": .int(maxLists)])
                }
            default:
                throw Self.malformed("unexpected character '\(Unicode.Scalar(byte))'")
            }
        }
        guard !lists.isEmpty else { throw Self.malformed("no list") }
        guard !(sawTag && sawUntagged) else { throw Self.malformed("tagged and untagged lists are mixed") }
        self.lists = lists
    }

    private static func malformed(_ reason: String) -> ProblemDetails {
        ProblemDetails(status: .badRequest, detail: "the If header is malformed: \(reason)")
    }

    /// What a condition is tested against: a resource's current entity tag and the lock tokens that apply to it.
    struct ResourceState: Sendable {
        var etag: String?
        var lockTokens: Set<String>
    }

    /// True when any list holds.
    /// - Parameter state: the state of the resource a list is about (`nil` for the request's resource).
    func holds(_ state: (String?) async throws -> ResourceState) async throws -> Bool {
        for list in self.lists {
            let resource = try await state(list.resource)
            let holds = list.conditions.allSatisfy { condition in
                let matches: Bool
                switch condition.test {
                case .stateToken(let token): matches = resource.lockTokens.contains(token)
                case .entityTag(let tag): matches = resource.etag.map { Self.strip(tag) == Self.strip($0) } ?? false
                }
                return matches != condition.negated
            }
            if holds { return true }
        }
        return false
    }

    private static func strip(_ tag: String) -> Substring {
        tag.hasPrefix("W/") ? tag.dropFirst(2) : Substring(tag)
    }
}

/// A byte cursor over a header value.
private struct Scanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func peek() -> UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    mutating func advance() { self.index += 1 }

    mutating func skipSpaces() {
        while let byte = self.peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { self.index += 1 }
    }

    mutating func consume(_ word: String) -> Bool {
        let word = Array(word.utf8)
        guard self.bytes.count - self.index >= word.count, Array(self.bytes[self.index..<self.index + word.count]) == word else { return false }
        self.index += word.count
        return true
    }

    /// The text between `open` and `close`.
    mutating func delimited(_ open: UInt8, _ close: UInt8) throws(ProblemDetails) -> String {
        precondition(self.peek() == open)
        let start = self.index + 1
        guard let end = self.bytes[start...].firstIndex(of: close) else {
            throw ProblemDetails(status: .badRequest, detail: "the If header is malformed: '\(Unicode.Scalar(open))' is not closed")
        }
        self.index = end + 1
        return String(decoding: self.bytes[start..<end], as: UTF8.self)
    }
}
