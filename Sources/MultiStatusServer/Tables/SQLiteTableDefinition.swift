/// What SQLite's catalog does not give about a table but its `CREATE TABLE` statement does: the
/// CHECK constraints, each with the name SQLite reports it by and its expression, so that they
/// are evaluated over a whole batch as PostgreSQL's are (`TableStore.checkChecks`).
///
/// The statement is the operator's, read from `sqlite_schema`, never a request's. It is read by
/// tokens (words, quoted names, string literals, comments, single characters), so that a
/// parenthesis or the word CHECK inside a string or a quoted name is not taken for one.
enum SQLiteTableDefinition {
    /// A CHECK constraint as written.
    struct Check: Equatable {
        /// `CONSTRAINT name` when it has one, else its expression: what SQLite's
        /// "CHECK constraint failed: …" names.
        let name: String
        /// The expression, without the parentheses around it.
        let expression: String
        /// The names in the expression that may be columns (words that are not numbers, and quoted
        /// names, not followed by `(`), unquoted.
        let identifiers: [String]
    }

    private enum Token: Equatable {
        case word(String)
        case quoted(String)
        case string
        case symbol(UInt8)
    }

    /// The CHECK constraints of the `CREATE TABLE` statement `sql`; none when it cannot be read.
    static func checks(in sql: String) -> [Check] {
        let bytes = Array(sql.utf8)
        guard let tokens = self.tokens(bytes) else { return [] }
        var checks: [Check] = []
        var position = 0
        while position < tokens.count {
            defer { position += 1 }
            guard case .word(let word) = tokens[position].token, word.uppercased() == "CHECK", position + 1 < tokens.count,
                tokens[position + 1].token == .symbol(UInt8(ascii: "("))
            else { continue }
            var depth = 0
            var end = position + 1
            repeat {
                if tokens[end].token == .symbol(UInt8(ascii: "(")) { depth += 1 }
                if tokens[end].token == .symbol(UInt8(ascii: ")")) { depth -= 1 }
                end += 1
            } while depth > 0 && end < tokens.count
            guard depth == 0 else { return checks }
            let inner = tokens[(position + 2)..<(end - 1)]
            guard let first = inner.first, let last = inner.last else { continue }
            let expression = String(decoding: bytes[first.range.lowerBound..<last.range.upperBound], as: UTF8.self)
            var identifiers: [String] = []
            for (offset, token) in zip(inner.indices, inner) {
                let followedByCall = offset + 1 < end - 1 && tokens[offset + 1].token == .symbol(UInt8(ascii: "("))
                switch token.token {
                case .word(let name) where !followedByCall && !(name.first?.isNumber ?? true), .quoted(let name) where !followedByCall:
                    identifiers.append(name)
                default: break
                }
            }
            var name = expression
            if position >= 2, case .word(let keyword) = tokens[position - 2].token, keyword.uppercased() == "CONSTRAINT" {
                switch tokens[position - 1].token {
                case .word(let given), .quoted(let given): name = given
                default: break
                }
            }
            checks.append(Check(name: name, expression: expression, identifiers: identifiers))
            position = end - 1
        }
        return checks
    }

    /// The tokens of `bytes` with their byte ranges; `nil` when a quote or comment is not closed.
    private static func tokens(_ bytes: [UInt8]) -> [(token: Token, range: Range<Int>)]? {
        var tokens: [(token: Token, range: Range<Int>)] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let start = index
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C:
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                index += 2
                while index + 1 < bytes.count && !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) { index += 1 }
                guard index + 1 < bytes.count else { return nil }
                index += 2
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"), UInt8(ascii: "["):
                // A quote ends at its closing character; a doubled one stands for itself (not in brackets).
                let closing = byte == UInt8(ascii: "[") ? UInt8(ascii: "]") : byte
                var text: [UInt8] = []
                index += 1
                while true {
                    guard index < bytes.count else { return nil }
                    if bytes[index] == closing {
                        if closing != UInt8(ascii: "]"), index + 1 < bytes.count, bytes[index + 1] == closing {
                            text.append(closing)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    text.append(bytes[index])
                    index += 1
                }
                tokens.append((byte == UInt8(ascii: "'") ? .string : .quoted(String(decoding: text, as: UTF8.self)), start..<index))
            case _ where self.isWordByte(byte):
                while index < bytes.count && self.isWordByte(bytes[index]) { index += 1 }
                tokens.append((.word(String(decoding: bytes[start..<index], as: UTF8.self)), start..<index))
            default:
                index += 1
                tokens.append((.symbol(byte), start..<index))
            }
        }
        return tokens
    }

    /// Letters, digits, `_`, `$` and every byte of a non-ASCII character, which SQLite takes as
    /// part of a name.
    private static func isWordByte(_ byte: UInt8) -> Bool {
        byte >= 0x80 || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }
}
