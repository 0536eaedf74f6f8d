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
        let value = try JSONValue.parse(Array(#"{"t": true, "f": false, "zero": 0, "one": 1, "big": 9007199254740993, "half": 1.5, "two": 2.0, "s": "x", "n": null, "a": [1, "b"]}"#.utf8))
        #expect(value == ["t": true, "f": false, "zero": 0, "one": 1, "big": 9_007_199_254_740_993, "half": 1.5, "two": 2, "s": "x", "n": nil, "a": [1, "b"]])
    }

    @Test func parseRefusesWhatIsNotJSON() {
        for text in ["{", "{'a': 1}", "[1 2]", "", "nul"] {
            #expect(throws: MultiStatusError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
        }
    }
}
