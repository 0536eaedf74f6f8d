import Foundation
import MultiStatus
import Testing

@Suite struct XMLBodyTests {
    let parser = XMLElementTreeParser()

    @Test func contractExampleParsesAsRFC4918() throws {
        let xml = try seedUploadReport().encoded(as: .xml)
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\""))
        let root = try parser.parse(Array(xml.utf8))
        #expect(root.namespace == "DAV:" && root.name == "multistatus")
        let responses = root.children("DAV:", "response")
        #expect(responses.count == 3)
        #expect(responses.map { $0.child("DAV:", "href")?.text } == ["/files/file1.txt", "/files/file2.txt", "/files/file3.txt"])
        #expect(responses.map { $0.child("DAV:", "status")?.text } == ["HTTP/1.1 201 Created", "HTTP/1.1 400 Bad Request", "HTTP/1.1 201 Created"])
        #expect(responses[0].child("DAV:", "responsedescription")?.text == "Created")
        let problem = try #require(responses[1].child("DAV:", "error")?.child("urn:ietf:rfc:7807", "problem"))
        #expect(problem.child("urn:ietf:rfc:7807", "detail")?.text == "file name must not contain '/'")
    }

    /// RFC 4918 section 14.24: `<!ELEMENT response (href, ((href*, status)|(propstat+)), error?, responsedescription?, location?)>`
    @Test func davElementsFollowTheRFCOrder() throws {
        let xml = try seedUploadReport().encoded(as: .xml)
        let root = try parser.parse(Array(xml.utf8))
        let order = ["href", "status", "error", "responsedescription", "location"]
        for response in root.children("DAV:", "response") {
            let names = response.children.filter { $0.namespace == "DAV:" }.map(\.name)
            let positions = names.map { order.firstIndex(of: $0)! }
            #expect(positions == positions.sorted(), "DAV: children out of order: \(names)")
            #expect(names.first == "href")
            #expect(names.contains("status"))
        }
        #expect(root.children("DAV:", "response")[0].child("DAV:", "location")?.child("DAV:", "href")?.text == "/files/file1.txt")
    }

    @Test func hrefsArePercentEncoded() throws {
        let report = try MultiStatusReport(
            collection: .files,
            items: [ItemResult(id: "a b#?%é.txt", status: .badRequest)]
        )
        let root = try parser.parse(Array(report.encoded(as: .xml).utf8))
        #expect(root.children("DAV:", "response")[0].child("DAV:", "href")?.text == "/files/a%20b%23%3F%25%C3%A9.txt")
    }

    @Test func controlCharactersCannotBreakTheDocument() throws {
        let report = try MultiStatusReport(collection: .files, items: [ItemResult(id: "a\u{0}<b>&\u{7}", status: .badRequest)])
        let root = try parser.parse(Array(report.encoded(as: .xml).utf8))
        #expect(root.children("DAV:", "response").count == 1)
    }

    @Test func doctypeIsRefused() {
        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <D:propfind xmlns:D="DAV:">&lol2;</D:propfind>
            """
        #expect(throws: XMLElementTreeParser.Failure.self) { try parser.parse(Array(laughs.utf8)) }
        let external = #"<?xml version="1.0"?><!doctype x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#
        #expect(throws: XMLElementTreeParser.Failure.self) { try parser.parse(Array(external.utf8)) }
    }

    @Test func deepNestingIsRefused() throws {
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        let failure = try #require(throws: XMLElementTreeParser.Failure.self) { try XMLElementTreeParser(maxDepth: 64).parse(Array(deep.utf8)) }
        #expect(failure.description.contains("deeper"))
        #expect(!failure.isTooLarge)
    }

    @Test func oversizeIsRefusedAsTooLarge() throws {
        let failure = try #require(throws: XMLElementTreeParser.Failure.self) {
            try XMLElementTreeParser(maxBytes: 10).parse(Array("<a>0123456789</a>".utf8))
        }
        #expect(failure.isTooLarge)
    }

    @Test func malformedIsRefused() {
        #expect(throws: XMLElementTreeParser.Failure.self) { try parser.parse(Array("<a><b></a>".utf8)) }
    }
}
