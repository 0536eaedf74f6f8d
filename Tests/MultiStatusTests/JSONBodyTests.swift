import Foundation
import HTTPTypes
import MultiStatus
import Testing

/// The seed article's upload exchange as a report.
func seedUploadReport() throws -> MultiStatusReport {
    try MultiStatusReport(
        collection: .files,
        items: [
            ItemResult(id: "file1.txt", status: .created, location: "/files/file1.txt"),
            ItemResult(id: "file2.txt", problem: ProblemDetails(status: .badRequest, detail: "file name must not contain '/'")),
            ItemResult(id: "file3.txt", status: .created, location: "/files/file3.txt"),
        ]
    )
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite struct JSONBodyTests {
    @Test func contractExampleFieldByField() throws {
        let body = try jsonObject(seedUploadReport().encoded(as: .json))
        #expect(Set(body.keys) == ["files", "summary"])
        let files = try #require(body["files"] as? [[String: Any]])
        #expect(files.count == 3)

        #expect(files[0]["filename"] as? String == "file1.txt")
        #expect(files[0]["status"] as? Int == 201)
        #expect(files[0]["message"] as? String == "Created")
        #expect(files[0]["location"] as? String == "/files/file1.txt")
        #expect(files[0]["error"] == nil)

        #expect(files[1]["filename"] as? String == "file2.txt")
        #expect(files[1]["status"] as? Int == 400)
        #expect(files[1]["message"] as? String == "Bad Request")
        let error = try #require(files[1]["error"] as? [String: Any])
        #expect(error["type"] as? String == "about:blank")
        #expect(error["title"] as? String == "Bad Request")
        #expect(error["status"] as? Int == 400)
        #expect(error["detail"] as? String == "file name must not contain '/'")

        #expect(files[2]["filename"] as? String == "file3.txt")
        #expect(files[2]["status"] as? Int == 201)

        let summary = try #require(body["summary"] as? [String: Int])
        #expect(summary == ["total": 3, "succeeded": 2, "failed": 1])
    }

    @Test func itemMembersComeInTheSeedOrder() throws {
        let text = try seedUploadReport().encoded(as: .json)
        #expect(text.hasPrefix(#"{"files":[{"filename":"file1.txt","status":201,"message":"Created","location":"/files/file1.txt"}"#))
    }

    @Test func messageDefaultsToTheReasonPhrase() {
        #expect(ItemResult(id: 1, status: .ok).message == "OK")
        #expect(ItemResult(id: 1, status: .notFound).message == "Not Found")
        #expect(ItemResult(id: 1, status: .failedDependency).message == "Failed Dependency")
        #expect(ItemResult(id: 1, status: .insufficientStorage).message == "Insufficient Storage")
        #expect(ItemResult(id: 1, status: .ok, message: "Active").message == "Active")
    }

    @Test func failedItemsAlwaysCarryAProblem() {
        let item = ItemResult(id: 7, status: .conflict)
        #expect(item.problem == ProblemDetails(status: .conflict))
        #expect(item.problem?.title == "Conflict")
        #expect(ItemResult(id: 7, status: .ok).problem == nil)
    }

    @Test func summaryCountsEverythingThatIsNot2xx() throws {
        let report = try MultiStatusReport(
            collection: .updates,
            items: [
                ItemResult(id: 1, status: .ok), ItemResult(id: 2, status: .noContent), ItemResult(id: 3, status: .notFound),
                ItemResult(id: 4, status: .serviceUnavailable), ItemResult(id: 5, status: .created),
            ]
        )
        #expect(report.summary == Summary(total: 5, succeeded: 3, failed: 2))
    }

    @Test func onlyFailedListsFailuresButCountsAll() throws {
        let body = try jsonObject(seedUploadReport().encoded(as: .json, onlyFailed: true))
        let files = try #require(body["files"] as? [[String: Any]])
        #expect(files.map { $0["filename"] as? String } == ["file2.txt"])
        #expect(body["summary"] as? [String: Int] == ["total": 3, "succeeded": 2, "failed": 1])
    }

    @Test func anEmptyReportCannotBeBuilt() {
        #expect(throws: MultiStatusError.emptyBatch) {
            try MultiStatusReport(collection: .files, items: [])
        }
        #expect(throws: MultiStatusError.emptyBatch) {
            try MultiStatusReport.atomic(collection: .files, items: [])
        }
    }

    @Test func hostileStringsStayValidJSON() throws {
        let name = "a\"b\\c\u{0}d\ne\u{1F}f\u{2028}"
        let report = try MultiStatusReport(collection: .files, items: [ItemResult(id: .string(name), status: .badRequest)])
        let files = try #require(try jsonObject(report.encoded(as: .json))["files"] as? [[String: Any]])
        #expect(files[0]["filename"] as? String == name)
    }

    @Test func extraFieldsAreWrittenFlat() throws {
        let item = ItemResult(id: "Database", status: .ok, message: "Active", fields: ["latencyMs": 3, "checkedAt": "2026-01-01T00:00:00Z"])
        let report = try MultiStatusReport(collection: .sources, items: [item])
        let sources = try #require(try jsonObject(report.encoded(as: .json))["sources"] as? [[String: Any]])
        #expect(sources[0]["source"] as? String == "Database")
        #expect(sources[0]["latencyMs"] as? Int == 3)
        #expect(sources[0]["checkedAt"] as? String == "2026-01-01T00:00:00Z")
    }
}

@Suite struct AtomicModeTests {
    @Test func allSucceededIs200WithTheSameItems() throws {
        let items = [ItemResult(id: 1, status: .ok), ItemResult(id: 2, status: .ok)]
        let report = try MultiStatusReport.atomic(collection: .updates, items: items)
        #expect(report.status == .ok)
        #expect(report.items == items)
    }

    @Test func oneFailureTurnsTheOthersInto424() throws {
        let items = [ItemResult(id: 1, status: .ok), ItemResult(id: 2, status: .conflict), ItemResult(id: 3, status: .ok)]
        let report = try MultiStatusReport.atomic(collection: .updates, items: items)
        #expect(report.status == .conflict)
        #expect(report.items.map(\.status.code) == [424, 409, 424])
        #expect(report.items[0].problem?.detail?.contains("item 1") == true)
        #expect(report.summary == Summary(total: 3, succeeded: 0, failed: 3))
    }
}

@Suite struct JSONParsingTests {
    @Test func parseKeepsEveryJSONType() throws {
        let value = try JSONValue.parse(
            Array(
                #"{"t": true, "f": false, "zero": 0, "one": 1, "big": 9007199254740993, "half": 1.5, "two": 2.0, "s": "x", "n": null, "a": [1, "b"]}"#
                    .utf8))
        #expect(
            value == [
                "t": true, "f": false, "zero": 0, "one": 1, "big": 9_007_199_254_740_993, "half": 1.5, "two": 2, "s": "x", "n": nil, "a": [1, "b"],
            ])
    }

    @Test func parseRefusesWhatIsNotJSON() {
        let texts = [
            "{", "{'a': 1}", "[1 2]", "", "nul", "  ", "[1,]", #"{"a": 1,}"#, "[,1]", #"{"a" 1}"#, #"{a: 1}"#, "01", "-", "1.", ".5", "+1",
            "1e", "1e+", "0x10", "NaN", "Infinity", "1e400", "[1] 2", "[1]]", "\"abc", "\"tab\there\"", #""\x""#, #""\u12""#, #""\ud800""#,
            #""\ud800\u0041""#, #""\udc00""#, "/* c */ 1", "tru", "nulls",
        ]
        for text in texts {
            #expect(throws: MultiStatusError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
        }
        // Bytes that are not UTF-8 inside a string, raw or after an escape.
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: MultiStatusError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test func parseErrorsSayWhereAndWhy() {
        #expect(throws: MultiStatusError.malformedBody("invalid JSON at byte 9: expected ',' or ']' in an array")) {
            try JSONValue.parse(Array("[1, 2, 3 4]".utf8))
        }
        #expect(throws: MultiStatusError.malformedBody("invalid JSON at byte 7: expected a member name in double quotes")) {
            try JSONValue.parse(Array(#"{"a":1,}"#.utf8))
        }
    }

    @Test func parseReadsStringsEscapesAndNumbers() throws {
        let text =
            #"[" \"\\\/\b\f\n\r\t", "\u00e9\u4E2D", "\ud83d\ude00", "é中😀", "", -0, -12, 1e3, 2.5e-1, -9223372036854775808, 9223372036854775808, 1.0]"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(
            value == [" \"\\/\u{08}\u{0C}\n\r\t", "é中", "😀", "é中😀", "", 0, -12, 1000, 0.25, .int(Int.min), .double(9_223_372_036_854_775_808), 1])
        // A byte order mark is ignored; whitespace around the value is allowed.
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array(" \r\n\t{\"a\" : [ ] , \"a\": {}}\n".utf8)) == ["a": [:]])
    }

    @Test func writtenStringsReadBackTheSame() throws {
        let samples = ["", "plain", "a\"b\\c\u{0}d\ne\u{1F}f\u{2028}g\u{2029}h", "é中😀\u{7F}\u{2027}\u{202A}", "\r\t\u{8}\u{C}/"]
        for text in samples {
            var json = ""
            JSONValue.writeString(text, into: &json)
            #expect(try JSONValue.parse(Array(json.utf8)) == .string(text), "\(json)")
        }
        var json = ""
        JSONValue.writeString("a\"\u{1}\u{1B}\u{2028}é", into: &json)
        #expect(json == #""a\"\u0001\u001b\u2028é""#)
    }

    @Test func parseLimitsNesting() throws {
        let limit = JSONValue.maximumNestingDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(throws: Never.self) { try JSONValue.parse(Array(deepest.utf8)) }
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: MultiStatusError.malformedBody("invalid JSON at byte \(limit): nested deeper than \(limit) levels")) {
            try JSONValue.parse(Array(tooDeep.utf8))
        }
        // Far deeper than any stack would take, refused just the same.
        #expect(throws: MultiStatusError.self) { try JSONValue.parse(Array(repeating: UInt8(ascii: "{"), count: 1_000_000)) }
    }
}

/// Generated documents: whatever the writer writes, the parser reads back the same; whatever bytes
/// come in, the parser answers a value or an error, never a crash.
@Suite struct JSONRoundTripTests {
    /// A small deterministic generator, so that a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let alphabet: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "中", "😀", "\u{2028}", "\u{FFFF}",
    ]

    static func value(depth: Int, using generator: inout SplitMix) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int(Int.random(in: Int.min...Int.max, using: &generator) >> Int.random(in: 0..<63, using: &generator))
        case 3: return .double(Double.random(in: -1e9...1e9, using: &generator).rounded(.towardZero) + 0.5)
        case 4: return .string(string(using: &generator))
        case 5: return .array((0..<Int.random(in: 0..<5, using: &generator)).map { _ in value(depth: depth + 1, using: &generator) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &generator) { members[string(using: &generator)] = value(depth: depth + 1, using: &generator) }
            return .object(members)
        }
    }

    static func string(using generator: inout SplitMix) -> String {
        var text = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0..<8, using: &generator) { text.append(alphabet.randomElement(using: &generator)!) }
        return String(text)
    }

    @Test func whatIsWrittenReadsBackTheSame() throws {
        var generator = SplitMix(state: 4918)
        for _ in 0..<2_000 {
            let value = Self.value(depth: 0, using: &generator)
            #expect(try JSONValue.parse(Array(value.jsonText.utf8)) == value, "\(value.jsonText)")
        }
    }

    @Test func damagedDocumentsNeverCrashTheParser() throws {
        var generator = SplitMix(state: 7807)
        let interesting: [UInt8] = Array("{}[]\",:\\-+.eE0123456789tfnul u".utf8) + [0x00, 0x1F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]
        var accepted = 0
        for _ in 0..<3_000 {
            var bytes = Array(Self.value(depth: 0, using: &generator).jsonText.utf8)
            for _ in 0...Int.random(in: 0..<3, using: &generator) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[index] = interesting.randomElement(using: &generator)!
                case 1: bytes.remove(at: index)
                default: bytes.insert(interesting.randomElement(using: &generator)!, at: index)
                }
            }
            // Either outcome is fine; an accepted document must also be valid UTF-8 in its strings.
            if let value = try? JSONValue.parse(bytes) {
                accepted += 1
                #expect(try JSONValue.parse(Array(value.jsonText.utf8)) == value)
            }
        }
        #expect(accepted > 0 && accepted < 3_000, "some damaged documents are still JSON, most are not")
    }
}
