import Foundation
import MultiStatus
import MultiStatusClient
import Testing

/// `MultiStatusLint` and the reader against other servers' answers: Apache's and nginx's PROPFIND
/// (captured by scripts/capture-propfind), the seed's examples of a 207 done wrong, and one case
/// per rule.
@Suite struct LintTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name)
        return Array(try Data(contentsOf: url))
    }

    /// The rules a saved answer breaks.
    static func rules(_ text: String) -> [String] {
        MultiStatusLint.check(MultiStatusLint.Answer(saved: Array(text.utf8), requestURL: URL(string: "http://files.example/dav/"))).map(\.rule)
    }

    @Test(arguments: ["apache-propfind.http", "nginx-propfind.http"])
    func apacheAndNginxPropfindAnswersAreClean(fixture: String) throws {
        let answer = MultiStatusLint.Answer(saved: try Self.fixture(fixture))
        #expect(answer.status == 207)
        #expect(answer.contentType?.hasPrefix("text/xml") == true)
        #expect(MultiStatusLint.check(answer).isEmpty)
    }

    @Test(arguments: ["apache-propfind.http", "nginx-propfind.http"])
    func theReaderReadsAPropfindWithItsProperties(fixture: String) throws {
        let answer = MultiStatusLint.Answer(saved: try Self.fixture(fixture))
        let body = try MultiStatusReader.read(answer.body, format: .xml)
        // Each server lists the folder first, then its members in its own order.
        let byName = Dictionary(uniqueKeysWithValues: body.items.map { ($0.id.displayText, $0) })
        #expect(body.items.first?.id.displayText == "/docs/")
        #expect(Set(byName.keys) == ["/docs/", "/docs/café menu.txt", "/docs/inner/", "/docs/a.txt"])
        #expect(body.items.allSatisfy { $0.status.code == 200 })
        #expect(byName["/docs/inner/"]?.fields["resourcetype"]?.stringValue == "collection")
        #expect(byName["/docs/a.txt"]?.fields["resourcetype"]?.stringValue == "")
        #expect(byName["/docs/a.txt"]?.fields["getcontentlength"]?.stringValue == "6")
        #expect(byName["/docs/a.txt"]?.fields["getlastmodified"]?.stringValue == "Fri, 02 Jan 2026 03:04:05 GMT")
        #expect(body.summary == Summary(total: 4, succeeded: 4, failed: 0))
    }

    @Test func theSeedsIncorrectExamplesAreFound() {
        // "A 207 with a bare text body."
        #expect(Self.rules("HTTP/1.1 207 Multi-Status\r\nContent-Type: text/plain\r\n\r\nSome error occurred") == ["text-body"])
        // "A 207 of {"status": "Some error occurred"}."
        #expect(Self.rules("HTTP/1.1 207 Multi-Status\r\nContent-Type: application/json\r\n\r\n{\"status\": \"Some error occurred\"}") == ["no-list"])
    }

    @Test func eachRuleHasItsFinding() {
        let json = "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/json\r\n\r\n"
        #expect(Self.rules("HTTP/1.1 207 Multi-Status\r\n\r\n{\"files\": [{\"filename\": \"a\", \"status\": 201}]}") == ["content-type"])
        #expect(Self.rules(json + "{\"files\": [], \"summary\": {\"total\": 0, \"succeeded\": 0, \"failed\": 0}}") == ["empty-list"])
        #expect(Self.rules(json + "{\"files\": [{\"status\": 201}]}") == ["item-identifier"])
        #expect(Self.rules(json + "{\"files\": [{\"filename\": \"a\", \"status\": \"Created\"}]}") == ["item-status"])
        #expect(
            Self.rules(
                json
                    + "{\"files\": [{\"filename\": \"a\", \"status\": 201}, {\"filename\": \"b\", \"status\": 500}], \"summary\": {\"total\": 2, \"succeeded\": 2, \"failed\": 0}}"
            )
                == ["summary"])
        #expect(
            Self.rules(json + "{\"files\": [{\"filename\": \"a\", \"status\": 201}], \"summary\": {\"total\": 2, \"succeeded\": 1, \"failed\": 0}}")
                == ["summary", "summary"])
        #expect(
            Self.rules(
                "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/x-ndjson\r\n\r\n{\"filename\": \"a\", \"status\": 201, \"index\": 0}\n") == [
                    "summary"
                ])
        #expect(
            Self.rules("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"files\": [{\"filename\": \"a\", \"status\": 201}]}") == ["status"]
        )

        let xml = "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\r\n"
        func response(_ inside: String) -> String { xml + "<D:multistatus xmlns:D=\"DAV:\"><D:response>\(inside)</D:response></D:multistatus>" }
        #expect(
            Self.rules(xml + "<multistatus><response><href>/a</href><status>HTTP/1.1 200 OK</status></response></multistatus>") == ["xml-namespace"])
        #expect(Self.rules(response("<D:status>HTTP/1.1 200 OK</D:status>")) == ["xml-href"])
        #expect(
            Self.rules(
                response(
                    "<D:href>/a</D:href><D:status>HTTP/1.1 200 OK</D:status><D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"))
                == ["xml-status"])
        #expect(Self.rules(response("<D:href>/a b</D:href><D:status>HTTP/1.1 200 OK</D:status>")) == ["href-encoding"])
        #expect(Self.rules(response("<D:href>/caf%zz</D:href><D:status>HTTP/1.1 200 OK</D:status>")) == ["href-encoding"])
        #expect(Self.rules(response("<D:href>http://elsewhere.example/a</D:href><D:status>HTTP/1.1 200 OK</D:status>")) == ["href-host"])
        #expect(Self.rules(response("<D:href>/a</D:href><D:status>200 OK</D:status>")) == ["xml-status-line"])
        #expect(Self.rules(response("<D:href>/a</D:href><D:status>HTTP/1.1 200 OK</D:status>")).isEmpty)
        #expect(Self.rules(xml + "<D:multistatus xmlns:D=\"DAV:\"/>") == ["empty-list"])
    }
}
