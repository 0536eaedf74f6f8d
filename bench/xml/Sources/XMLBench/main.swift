import Foundation
import MultiStatus

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Builds the same tree as the server's reader does, from XMLParser's callbacks: the baseline.
final class FoundationTree: NSObject, XMLParserDelegate {
    var stack: [XMLElementNode] = []
    var root: XMLElementNode?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:])
    {
        self.stack.append(XMLElementNode(namespace: namespaceURI ?? "", name: name, attributes: attributes, children: [], text: ""))
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard let node = self.stack.popLast() else { return }
        if self.stack.isEmpty { self.root = node } else { self.stack[self.stack.count - 1].children.append(node) }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if !self.stack.isEmpty { self.stack[self.stack.count - 1].text += string }
    }

    static func parse(_ data: Data) -> XMLElementNode? {
        let tree = FoundationTree()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.delegate = tree
        return parser.parse() ? tree.root : nil
    }
}

let propfind =
    #"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:getlastmodified/><D:resourcetype/><D:getetag/></D:prop></D:propfind>"#
let proppatch =
    #"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>"#
    + (0..<200).map { "<Z:p\($0) a=\"x\">value &amp; \($0)</Z:p\($0)>" }.joined() + "</D:prop></D:set></D:propertyupdate>"
let multistatus =
    #"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">"#
    + (0..<2_000).map {
        "<D:response><D:href>/dav/folder/file%20\($0).txt</D:href><D:propstat><D:prop><D:getcontentlength>\($0 * 37)</D:getcontentlength>"
            + "<D:getlastmodified>Tue, 01 Dec 2026 10:00:00 GMT</D:getlastmodified><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    }.joined() + "</D:multistatus>"

let cases: [(String, String, Int)] = [
    ("PROPFIND body, 220 B", propfind, 20_000), ("PROPPATCH, 200 properties", proppatch, 300), ("207 of 2,000 responses", multistatus, 5),
]
let runs = 7
print("case | ours (µs, median of \(runs)) | XMLParser (µs) | ours / XMLParser | spread of ratio")
for (name, text, repetitions) in cases {
    let bytes = Array(text.utf8)
    let data = Data(bytes)
    let reader = XMLElementTreeParser(maxBytes: 1 << 30)
    precondition(try! reader.parse(bytes) == FoundationTree.parse(data)!, "the two readers disagree on \(name)")
    var ours: [Double] = []
    var theirs: [Double] = []
    // Interleaved, so that a slow moment of the machine falls on both.
    for _ in 0..<runs {
        var start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<repetitions { _ = try! reader.parse(bytes) }
        ours.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(repetitions))
        start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<repetitions { _ = FoundationTree.parse(data) }
        theirs.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(repetitions))
    }
    let ratios = zip(ours, theirs).map { $0 / $1 }.sorted()
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    print(String(format: "%@ | %.1f | %.1f | %.2f | %.2f–%.2f", name, median(ours), median(theirs), median(ratios), ratios.first!, ratios.last!))
}
