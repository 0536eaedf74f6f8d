import Foundation
import MultiStatus
import Testing

@Suite struct DAVResponseTests {
    /// What the writer puts out, the reader gives back: hrefs, statuses, properties of any namespace, values with markup.
    @Test func propstatResponsesRoundTrip() throws {
        let responses = [
            DAVResponse(
                href: "/dav/a%20b/",
                propertyStatus: [
                    DAVPropertyStatus(
                        status: .ok,
                        properties: [
                            DAVProperty(.dav("resourcetype"), xml: "<D:collection/>"),
                            DAVProperty(.dav("displayname"), text: "a <b> & \"c\""),
                            DAVProperty(DAVPropertyName("urn:example:z", "color"), xml: "red <N0:b xmlns:N0=\"urn:example:z\">bold</N0:b>"),
                            DAVProperty(DAVPropertyName("", "plain"), text: "no namespace"),
                        ]),
                    DAVPropertyStatus(status: .notFound, properties: [DAVProperty(DAVPropertyName("urn:example:z", "missing"))]),
                ]
            ),
            DAVResponse(href: "/dav/locked.txt", status: .locked, error: "<D:lock-token-submitted><D:href>/dav/</D:href></D:lock-token-submitted>"),
        ]
        let encoder = MultiStatusEncoder(format: .xml, collection: .files)
        let body = encoder.head() + responses.map { encoder.encode($0) }.joined() + MultiStatusEncoder.davTail
        let read = try MultiStatusReader.readDAV(Array(body.utf8))
        #expect(read.count == 2)
        #expect(read[0].href == "/dav/a%20b/")
        #expect(read[0].property(.dav("displayname"))?.value.xml == "a &lt;b&gt; &amp; &quot;c&quot;")
        #expect(read[0].property(DAVPropertyName("urn:example:z", "color"))?.value.xml == "red <N0:b xmlns:N0=\"urn:example:z\">bold</N0:b>")
        #expect(read[0].property(DAVPropertyName("", "plain"))?.value.xml == "no namespace")
        #expect(read[0].property(.dav("resourcetype"))?.value.xml.contains("collection") == true)
        #expect(read[0].property(DAVPropertyName("urn:example:z", "missing"))?.status == .notFound)
        #expect(read[1].status == .locked)
        #expect(read[1].error.contains("lock-token-submitted"))
    }

    @Test func unboundAndEmptyNamespacePrefixesAreRefused() {
        let parser = XMLElementTreeParser()
        #expect(throws: XMLElementTreeParser.Failure.self) {
            try parser.parse(Array(#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#.utf8))
        }
        #expect(throws: XMLElementTreeParser.Failure.self) { try parser.parse(Array(#"<D:propfind><x:y/></D:propfind>"#.utf8)) }
    }

    @Test func escapingKeepsTextAndRemovesWhatXMLCannotCarry() {
        #expect(XMLText.escaped("plain-ascii_1.txt") == "plain-ascii_1.txt")
        #expect(XMLText.escaped("a&b<c>\"d'é\r") == "a&amp;b&lt;c&gt;&quot;d&apos;é&#13;")
        #expect(XMLText.escaped("nul\u{0}bell\u{7}\u{FFFE}end") == "nul\u{FFFD}bell\u{FFFD}\u{FFFD}end")
        #expect(XMLText.escaped("日本\u{10000}") == "日本\u{10000}")
    }
}
