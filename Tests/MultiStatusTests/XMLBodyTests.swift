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

    // MARK: - The reader on hostile and unusual input

    private func refusal(_ xml: [UInt8], _ parser: XMLElementTreeParser = XMLElementTreeParser()) -> XMLElementTreeParser.Failure? {
        do {
            _ = try parser.parse(xml)
            return nil
        } catch {
            return error
        }
    }

    private func refusal(_ xml: String) -> XMLElementTreeParser.Failure? { self.refusal(Array(xml.utf8)) }

    /// The body that used to kill the server: an element name of invalid UTF-8.
    @Test func invalidUTF8IsRefusedNotATrap() throws {
        let body = Array(#"<D:propfind xmlns:D="DAV:"><D:prop><"#.utf8) + [0xFF, 0xFE] + Array("/></D:prop></D:propfind>".utf8)
        let failure = try #require(self.refusal(body))
        #expect(failure.description == "XML is not valid UTF-8")
        #expect(self.refusal([0x3C, 0x61, 0x3E, 0xC3, 0x3C, 0x2F, 0x61, 0x3E])?.description == "XML is not valid UTF-8")
        #expect(self.refusal([0xFF, 0xFE, 0x3C, 0x00, 0x61, 0x00])?.description.contains("UTF-16") == true)
    }

    @Test func namesMayBeAnyUnicodeNameCharacter() throws {
        let root = try parser.parse(Array(#"<D:prop xmlns:D="DAV:" xmlns:é="urn:é"><é:Größe/><日本/></D:prop>"#.utf8))
        #expect(root.children.map(\.name) == ["Größe", "日本"])
        #expect(root.children.map(\.namespace) == ["urn:é", ""])
        #expect(self.refusal("<a><1b/></a>")?.description.contains("expected an element name") == true)
        #expect(self.refusal("<a><\u{2030}/></a>") != nil)
    }

    @Test func namespacesFollowTheirScope() throws {
        let root = try parser.parse(Array(#"<a xmlns="urn:1" xmlns:p="urn:p"><b xmlns="urn:2"><p:c/></b><d xmlns=""/><e/></a>"#.utf8))
        #expect(root.namespace == "urn:1")
        #expect(root.children.map(\.namespace) == ["urn:2", "", "urn:1"])
        #expect(root.children[0].children[0].namespace == "urn:p")
        // A declaration ends with its element.
        #expect(self.refusal(#"<a><b xmlns:p="urn:p"/><p:c/></a>"#)?.description.contains("not bound") == true)
        #expect(self.refusal(#"<p:a/>"#)?.description.contains("not bound") == true)
        #expect(self.refusal(#"<a xmlns:p=""/>"#)?.description.contains("empty URI") == true)
        #expect(self.refusal(#"<a xmlns:xmlns="urn:x"/>"#) != nil)
        #expect(self.refusal(#"<a xmlns:xml="urn:x"/>"#) != nil)
        #expect(self.refusal(#"<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>"#) != nil)
        #expect(self.refusal(#"<a:b:c xmlns:a="urn:a"/>"#)?.description.contains("qualified name") == true)
        #expect(self.refusal(#"<a: xmlns:a="urn:a"/>"#) != nil)
        // Attributes: unique as written, and unique once their prefixes are resolved.
        #expect(self.refusal(#"<a x="1" x="2"/>"#)?.description.contains("given twice") == true)
        #expect(self.refusal(#"<a xmlns:p="urn:n" xmlns:q="urn:n" p:x="1" q:x="2"/>"#)?.description.contains("given twice") == true)
        #expect(self.refusal(#"<a p:x="1"/>"#)?.description.contains("not bound") == true)
        let attributes = try parser.parse(Array(#"<a xmlns:p="urn:n" p:x="1" x="2" xml:lang="en"/>"#.utf8)).attributes
        #expect(attributes == ["p:x": "1", "x": "2", "xml:lang": "en"])
    }

    @Test func referencesAreTheFivePredefinedAndCharacters() throws {
        let root = try parser.parse(Array(#"<a t="&quot;&apos;&#x9;">&lt;&gt;&amp;&#65;&#x1F600;</a>"#.utf8))
        #expect(root.text == "<>&A😀")
        #expect(root.attributes["t"] == "\"'\t")
        #expect(self.refusal("<a>&nbsp;</a>")?.description.contains("not declared") == true)
        #expect(self.refusal("<a>&#0;</a>")?.description.contains("not an XML character") == true)
        #expect(self.refusal("<a>&#xD800;</a>") != nil)
        #expect(self.refusal("<a>&#x110000;</a>") != nil)
        #expect(self.refusal("<a>&#99999999999999999999999999;</a>") != nil)
        #expect(self.refusal("<a>&#;</a>") != nil)
        #expect(self.refusal("<a>&#x41</a>") != nil)
        #expect(self.refusal("<a>& b</a>") != nil)
        #expect(self.refusal("<a>&lt</a>") != nil)
    }

    @Test func characterDataIsNormalizedAndChecked() throws {
        let root = try parser.parse(Array("<a b='x\r\ny\tz'>1\r\n2\r3<![CDATA[<&]]>4<!-- c --><?pi data?>5</a>".utf8))
        #expect(root.text == "1\n2\n3<&45")
        #expect(root.attributes["b"] == "x y z")
        #expect(self.refusal("<a>]]></a>")?.description.contains("]]>") == true)
        #expect(self.refusal("<a>\u{1}</a>")?.description.contains("control character U+0001") == true)
        #expect(self.refusal(Array("<a>".utf8) + [0xEF, 0xBF, 0xBE] + Array("</a>".utf8)) != nil)
        #expect(self.refusal("<a b='<'/>") != nil)
        #expect(self.refusal("<a><!-- a -- b --></a>")?.description.contains("--") == true)
        #expect(self.refusal("<a><![CDATA[x</a>")?.description.contains("unterminated CDATA") == true)
        #expect(self.refusal("<a><?xml version='1.0'?></a>") != nil)
        // White space between elements is kept, as text of the parent.
        #expect(try parser.parse(Array("<a>\n <b/>\n</a>".utf8)).text == "\n \n")
    }

    @Test func theDocumentHasOneRootAndAnOptionalDeclaration() throws {
        #expect(try parser.parse(Array("\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone='yes'?>\n<!-- x --><a/>\n".utf8)).name == "a")
        #expect(try parser.parse(Array("<?xml version='1.1'?><a/>".utf8)).name == "a")
        #expect(self.refusal("<?xml version='1.0' encoding='ISO-8859-1'?><a/>")?.description.contains("must be UTF-8") == true)
        #expect(self.refusal("<?xml encoding='UTF-8'?><a/>") != nil)
        #expect(self.refusal("<?xml version='1.0' standalone='yes' encoding='UTF-8'?><a/>") != nil)
        #expect(self.refusal(" <?xml version='1.0'?><a/>") != nil)
        #expect(self.refusal("")?.description.contains("no root") == true)
        #expect(self.refusal("<a/><b/>")?.description.contains("second root") == true)
        #expect(self.refusal("<a/>x")?.description.contains("after the root") == true)
        #expect(self.refusal("x<a/>")?.description.contains("before the root") == true)
        #expect(self.refusal("<a>")?.description.contains("<a> is not closed") == true)
        #expect(self.refusal("<a></b>")?.description.contains("does not close") == true)
        #expect(self.refusal("<a x='1'y='2'/>") != nil)
        #expect(self.refusal("<a><!ELEMENT a ANY></a>") != nil)
    }

    @Test func failuresSayWhere() throws {
        let failure = try #require(self.refusal("<a>\n  <é>&bad;</é></a>"))
        #expect(failure.description == "malformed XML at line 2, column 6: entity &bad; is not declared; only the five predefined entities are")
    }

    @Test func elementAndAttributeCountsAreCapped() throws {
        let many = "<a>" + String(repeating: "<b/>", count: 11) + "</a>"
        let failure = try #require(self.refusal(Array(many.utf8), XMLElementTreeParser(maxElements: 10)))
        #expect(failure.isTooLarge)
        let attributes = "<a " + (0..<5).map { "a\($0)='x'" }.joined(separator: " ") + "/>"
        #expect(self.refusal(Array(attributes.utf8), XMLElementTreeParser(maxAttributes: 4))?.description.contains("more than 4 attributes") == true)
    }

    @Test func mixedContentKeepsTextAndChildren() throws {
        let root = try parser.parse(Array("<a>x<b>y</b>z</a>".utf8))
        #expect(root.text == "xz")
        #expect(root.children.first?.text == "y")
    }

    /// Found by the fuzzer: a tab given as a reference in an attribute must come back as a tab, not a space.
    @Test func contentWrittenBackReadsTheSame() throws {
        let root = try parser.parse(Array("<p><x:v xmlns:x='urn:x' a='&#9;&#10;&#13;b' xml:lang='en'>t&#13;\n<xml:q/></x:v></p>".utf8))
        let again = try parser.parse(Array(("<w>" + root.innerXML + "</w>").utf8))
        #expect(again.children == root.children)
        #expect(again.children.first?.attributes["a"] == "\t\n\rb")
        #expect(again.children.first?.children.first?.namespace == "http://www.w3.org/XML/1998/namespace")
    }
}
