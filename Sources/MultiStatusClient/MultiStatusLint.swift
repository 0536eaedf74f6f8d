import Foundation
public import MultiStatus

/// Judges a 207 Multi-Status answer of any server against the rule that "the response format
/// must be strictly adhered to": each way a client could misread it is one finding.
///
/// ```swift
/// let findings = MultiStatusLint.check(MultiStatusLint.Answer(status: 207, contentType: "application/json", body: bytes))
/// for finding in findings { print(finding) }
/// ```
public enum MultiStatusLint {
    /// A response as received: what is known of it.
    public struct Answer: Sendable {
        /// The status code, when the status line was seen.
        public var status: Int?
        /// The `Content-Type`, when the header fields were seen; `""` when they were and it was missing.
        public var contentType: String?
        public var body: [UInt8]
        /// The URL the request went to: hrefs must be on its host.
        public var requestURL: URL?

        public init(status: Int? = nil, contentType: String? = nil, body: [UInt8], requestURL: URL? = nil) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.requestURL = requestURL
        }

        /// A saved response: a status line and header fields, a blank line, then the body (as
        /// `curl -i` writes it); or a body alone.
        public init(saved bytes: [UInt8], requestURL: URL? = nil) {
            self.init(body: bytes, requestURL: requestURL)
            guard bytes.starts(with: Array("HTTP/".utf8)) else { return }
            let separators = [Array("\r\n\r\n".utf8), Array("\n\n".utf8)]
            var headEnd: (Int, Int)?
            for separator in separators {
                if let found = Self.find(separator, in: bytes), headEnd.map({ found < $0.0 }) ?? true { headEnd = (found, separator.count) }
            }
            guard let (end, length) = headEnd else { return }
            let lines = String(decoding: bytes[..<end], as: UTF8.self).split(whereSeparator: \.isNewline)
            self.status = lines.first?.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            self.contentType = ""
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == "content-type" {
                    self.contentType = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            self.body = Array(bytes[(end + length)...])
        }

        private static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
            guard bytes.count >= needle.count else { return nil }
            return (0...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
        }
    }

    /// One way an answer breaks the format.
    public struct Finding: Sendable, Hashable, CustomStringConvertible {
        /// A short name of the rule broken (`content-type`, `empty-list`, `item-identifier`, …).
        public var rule: String
        public var message: String
        public var description: String { "\(self.rule): \(self.message)" }
    }

    /// Names a JSON item's identifier may have.
    static let identifierKeys = ["id", "key", "path", "filename", "source", "email", "href", "name", "url", "uri"]

    /// Every finding, in the order of the answer; empty when it is clean.
    public static func check(_ answer: Answer) -> [Finding] {
        var findings: [Finding] = []
        func find(_ rule: String, _ message: String) { findings.append(Finding(rule: rule, message: message)) }
        if let status = answer.status, status != 207 {
            find("status", "the status is \(status), not 207 Multi-Status")
        }
        let mediaType = answer.contentType.map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "" }
        if mediaType == "" { find("content-type", "a 207 without a Content-Type: a client cannot tell how to read it") }
        let text = String(decoding: answer.body, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            find("empty-body", "the body is empty: no item says what happened")
            return findings
        }
        // Without a type, the body is read by what it starts with, to check the rest all the same.
        let sniffed = mediaType.flatMap { $0.isEmpty ? nil : $0 }
        let isXML = sniffed.map { $0.hasSuffix("/xml") || $0.hasSuffix("+xml") } ?? trimmed.hasPrefix("<")
        let isNDJSON = sniffed == "application/x-ndjson" || sniffed == "application/jsonl"
        let isJSON = sniffed.map { $0 == "application/json" || $0.hasSuffix("+json") } ?? (trimmed.hasPrefix("{") || trimmed.hasPrefix("["))
        if isXML {
            findings += self.checkXML(answer.body, requestURL: answer.requestURL)
        } else if isNDJSON {
            findings += self.checkNDJSON(trimmed)
        } else if isJSON {
            findings += self.checkJSON(Array(trimmed.utf8))
        } else {
            find("text-body", "the body is \(sniffed.map { "of type " + $0 } ?? "text"), not a list of items: \"\(trimmed.prefix(60))\"")
        }
        return findings
    }

    private static func checkJSON(_ body: [UInt8]) -> [Finding] {
        guard let value = try? JSONValue.parse(body) else { return [Finding(rule: "malformed", message: "the body is not valid JSON")] }
        guard case .object(let top) = value else {
            return [Finding(rule: "no-list", message: "the body is not an object holding a list of items and a summary")]
        }
        let lists = top.filter { if case .array = $0.value { true } else { false } }
        guard lists.count == 1, let (key, list) = lists.first, case .array(let items) = list else {
            let members = top.keys.sorted().joined(separator: ", ")
            return [
                Finding(
                    rule: "no-list",
                    message: lists.isEmpty
                        ? "no list of items, only \(members.isEmpty ? "nothing" : members)" : "\(lists.count) lists; one is expected")
            ]
        }
        var findings: [Finding] = []
        if items.isEmpty { findings.append(Finding(rule: "empty-list", message: "the list \"\(key)\" is empty: a 207 reports at least one item")) }
        var counted = (succeeded: 0, failed: 0)
        for (index, item) in items.enumerated() {
            let (status, itemFindings) = self.checkItem(item, index: index)
            findings += itemFindings
            if let status { (200..<300).contains(status) ? (counted.succeeded += 1) : (counted.failed += 1) }
        }
        if let summary = top["summary"] { findings += self.checkSummary(summary, items: items.count, counted: counted) }
        return findings
    }

    private static func checkNDJSON(_ text: String) -> [Finding] {
        var findings: [Finding] = []
        var items = 0
        var counted = (succeeded: 0, failed: 0)
        var summary: JSONValue?
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let value = try? JSONValue.parse(Array(line.utf8)), case .object(let members) = value else {
                findings.append(Finding(rule: "malformed", message: "line \(number + 1) is not a JSON object"))
                continue
            }
            if summary != nil { findings.append(Finding(rule: "summary", message: "line \(number + 1) follows the summary line")) }
            if members.count == 1, let value = members["summary"] {
                summary = value
                continue
            }
            let (status, itemFindings) = self.checkItem(value, index: items)
            findings += itemFindings
            if members["index"]?.intValue == nil { findings.append(Finding(rule: "item-index", message: "item \(items) has no integer \"index\"")) }
            if let status { (200..<300).contains(status) ? (counted.succeeded += 1) : (counted.failed += 1) }
            items += 1
        }
        if items == 0 { findings.append(Finding(rule: "empty-list", message: "no item line")) }
        if let summary {
            findings += self.checkSummary(summary, items: items, counted: counted)
        } else {
            findings.append(Finding(rule: "summary", message: "the stream has no summary line: a client cannot tell it ended"))
        }
        return findings
    }

    /// An item's identifier and status; its status code when it is an integer.
    private static func checkItem(_ item: JSONValue, index: Int) -> (Int?, [Finding]) {
        guard case .object(let members) = item else { return (nil, [Finding(rule: "item", message: "item \(index) is not an object")]) }
        var findings: [Finding] = []
        if !self.identifierKeys.contains(where: { members[$0] != nil }) {
            findings.append(
                Finding(
                    rule: "item-identifier",
                    message:
                        "item \(index) has no identifier (one of \(self.identifierKeys.joined(separator: ", "))): a client cannot tell which resource it is"
                ))
        }
        let status = members["status"]?.intValue
        if status.map({ !(100...599).contains($0) }) ?? true {
            findings.append(Finding(rule: "item-status", message: "item \(index) has no integer status: \(members["status"]?.jsonText ?? "none")"))
        }
        return (status.flatMap { (100...599).contains($0) ? $0 : nil }, findings)
    }

    private static func checkSummary(_ summary: JSONValue, items: Int, counted: (succeeded: Int, failed: Int)) -> [Finding] {
        guard case .object(let members) = summary, let total = members["total"]?.intValue, let succeeded = members["succeeded"]?.intValue,
            let failed = members["failed"]?.intValue
        else { return [Finding(rule: "summary", message: "the summary needs integer total, succeeded and failed")] }
        var findings: [Finding] = []
        if succeeded + failed != total {
            findings.append(Finding(rule: "summary", message: "succeeded \(succeeded) + failed \(failed) is not total \(total)"))
        }
        // A list of only the failed items (?only=failed) holds fewer than the total.
        if total != items && failed != items {
            findings.append(Finding(rule: "summary", message: "total \(total) is not the \(items) items listed"))
        } else if total == items && (succeeded, failed) != counted {
            findings.append(
                Finding(
                    rule: "summary",
                    message: "says \(succeeded) succeeded and \(failed) failed; the items say \(counted.succeeded) and \(counted.failed)"))
        }
        return findings
    }

    private static func checkXML(_ body: [UInt8], requestURL: URL?) -> [Finding] {
        let root: XMLElementNode
        do {
            root = try XMLElementTreeParser(maxBytes: Int.max, maxElements: Int.max).parse(body)
        } catch {
            return [Finding(rule: "malformed", message: "the body is not well-formed XML: \(error.description)")]
        }
        guard root.name == "multistatus" else { return [Finding(rule: "xml-root", message: "the root is \(root.name), not DAV:multistatus")] }
        var findings: [Finding] = []
        if root.namespace != "DAV:" {
            findings.append(
                Finding(
                    rule: "xml-namespace",
                    message:
                        "multistatus is in \(root.namespace.isEmpty ? "no namespace" : "namespace " + root.namespace), not DAV:; RFC 4918 clients look for DAV:multistatus"
                ))
        }
        let responses = root.children.filter { $0.name == "response" }
        if responses.isEmpty { findings.append(Finding(rule: "empty-list", message: "the multistatus holds no response")) }
        for (index, response) in responses.enumerated() {
            let hrefs = response.children.filter { $0.name == "href" }
            if hrefs.isEmpty {
                findings.append(Finding(rule: "xml-href", message: "response \(index) has no href: a client cannot tell which resource it is"))
            }
            for href in hrefs {
                findings += self.checkHref(href.text.trimmingCharacters(in: .whitespacesAndNewlines), index: index, requestURL: requestURL)
            }
            let statuses = response.children.filter { $0.name == "status" }
            let propstats = response.children.filter { $0.name == "propstat" }
            if !statuses.isEmpty && !propstats.isEmpty {
                findings.append(
                    Finding(rule: "xml-status", message: "response \(index) has both status and propstat; RFC 4918 allows one or the other"))
            }
            if statuses.isEmpty && propstats.isEmpty {
                findings.append(Finding(rule: "xml-status", message: "response \(index) has neither status nor propstat"))
            }
            for status in statuses + propstats.flatMap({ $0.children.filter { $0.name == "status" } }) {
                findings += self.checkStatusLine(status.text, index: index)
            }
        }
        return findings
    }

    /// `HTTP/1.1 NNN Reason`, as RFC 4918 section 14.28 has it.
    private static func checkStatusLine(_ line: String, index: Int) -> [Finding] {
        let line = line.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        let valid =
            parts.count >= 2 && parts[0].hasPrefix("HTTP/") && parts[1].count == 3 && parts[1].allSatisfy(\.isASCII)
            && Int(parts[1]).map { (100...599).contains($0) } == true
        return valid ? [] : [Finding(rule: "xml-status-line", message: "response \(index): \"\(line)\" is not a status line like HTTP/1.1 200 OK")]
    }

    /// An href is a URL or an absolute path, percent-encoded, on the request's host.
    private static func checkHref(_ href: String, index: Int, requestURL: URL?) -> [Finding] {
        var findings: [Finding] = []
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")
        let bad = href.unicodeScalars.filter { !allowed.contains($0) }
        let badEscape = href.range(of: "%(?![0-9A-Fa-f]{2})", options: .regularExpression) != nil
        if !bad.isEmpty || badEscape {
            findings.append(Finding(rule: "href-encoding", message: "response \(index): href \"\(href)\" is not percent-encoded"))
        }
        if let url = URL(string: href), let host = url.host, let requestHost = requestURL?.host, host.lowercased() != requestHost.lowercased() {
            findings.append(
                Finding(rule: "href-host", message: "response \(index): href \(href) is on \(host), not on the request's host \(requestHost)"))
        } else if !href.hasPrefix("/") && URL(string: href)?.scheme == nil && !href.isEmpty {
            findings.append(Finding(rule: "href-path", message: "response \(index): href \"\(href)\" is neither a URL nor an absolute path"))
        }
        return findings
    }
}
