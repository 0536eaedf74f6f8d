import MultiStatus
import Testing

@Suite struct RoundTripTests {
    static let report: MultiStatusReport = {
        let items = [
            ItemResult(id: "Database", status: .ok, message: "Active", fields: ["latencyMs": 3, "checkedAt": "2026-11-25T10:00:00Z"]),
            ItemResult(
                id: "Search API",
                problem: ProblemDetails(status: .serviceUnavailable, detail: "connection refused", extensions: ["upstream": "http://127.0.0.1:1"]),
                message: "Down",
                retryAfter: 5,
                fields: ["latencyMs": 1.5, "required": true, "tags": ["a", 1], "note": nil]
            ),
            ItemResult(id: "a b/é#.txt", status: .created, location: "/files/a%20b/%C3%A9%23.txt", etag: "\"abc\"", fields: ["size": 12]),
        ]
        return try! MultiStatusReport(collection: .sources, items: items)
    }()

    @Test(arguments: MultiStatusFormat.allCases)
    func writeThenReadGivesTheSameItems(format: MultiStatusFormat) throws {
        let text = Self.report.encoded(as: format)
        let read = try MultiStatusReader.read(Array(text.utf8), format: format, collection: .sources)
        #expect(read.items == Self.report.items)
        #expect(read.summary == Self.report.summary)
        #expect(read.collection == .sources)
        if format == .ndjson { #expect(read.indices == [0, 1, 2]) }
    }

    @Test func jsonReaderInfersKnownCollections() throws {
        let text = try seedUploadReport().encoded(as: .json)
        let read = try MultiStatusReader.read(Array(text.utf8), format: .json)
        #expect(read.collection == .files)
        #expect(read.items == (try seedUploadReport().items))
        #expect(read.failedItems.map(\.id) == ["file2.txt"])
    }

    @Test func onlyFailedRoundTripsWithTheFullSummary() throws {
        for format in MultiStatusFormat.allCases {
            let text = try seedUploadReport().encoded(as: format, onlyFailed: true)
            let read = try MultiStatusReader.read(Array(text.utf8), format: format, collection: .files)
            #expect(read.items.map(\.id) == ["file2.txt"])
            if format != .xml { #expect(read.summary == Summary(total: 3, succeeded: 2, failed: 1)) }
        }
    }

    @Test func readerRefusesBodiesThatAreNotMultiStatus() {
        let bad: [(String, MultiStatusFormat)] = [
            ("Some error occurred", .json),
            (#"{"status": "Some error occurred"}"#, .json),
            (#"{"files": [{"filename": "a"}]}"#, .json),
            (#"{"files": [{"filename": "a", "status": 99}]}"#, .json),
            (#"{"index":0,"filename":"a","status":201,"message":"Created"}"#, .ndjson),
            ("<x/>", .xml),
        ]
        for (text, format) in bad {
            #expect(throws: MultiStatusError.self, "\(text)") { try MultiStatusReader.read(Array(text.utf8), format: format) }
        }
    }

    @Test func formatFromContentType() {
        #expect(MultiStatusReader.format(contentType: "application/json; charset=utf-8") == .json)
        #expect(MultiStatusReader.format(contentType: "text/xml") == .xml)
        #expect(MultiStatusReader.format(contentType: "application/x-ndjson") == .ndjson)
        #expect(MultiStatusReader.format(contentType: "text/plain") == nil)
    }
}

@Suite struct NegotiationTests {
    @Test func acceptPicksTheFormat() {
        #expect(MultiStatusFormat.negotiate(accept: nil) == .json)
        #expect(MultiStatusFormat.negotiate(accept: "") == .json)
        #expect(MultiStatusFormat.negotiate(accept: "*/*") == .json)
        #expect(MultiStatusFormat.negotiate(accept: "application/json") == .json)
        #expect(MultiStatusFormat.negotiate(accept: "application/xml") == .xml)
        #expect(MultiStatusFormat.negotiate(accept: "text/xml") == .xml)
        #expect(MultiStatusFormat.negotiate(accept: "application/x-ndjson") == .ndjson)
        #expect(MultiStatusFormat.negotiate(accept: "text/html, application/xml;q=0.9, */*;q=0.8") == .xml)
        #expect(MultiStatusFormat.negotiate(accept: "application/json;q=0.5, text/xml") == .xml)
        #expect(MultiStatusFormat.negotiate(accept: "text/*") == .xml)
    }

    @Test func unwritableAcceptIsNil() {
        #expect(MultiStatusFormat.negotiate(accept: "image/png") == nil)
        #expect(MultiStatusFormat.negotiate(accept: "application/json;q=0") == nil)
        #expect(MultiStatusFormat.negotiate(accept: "*/*, application/json;q=0") == .xml)
    }
}
