import FuzzSupport
import MultiStatus

/// The XML reader must refuse or accept any bytes without trapping, and what it accepts must
/// survive being written back: the content it yields, re-serialized, parses to the same tree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzXML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let parser = XMLElementTreeParser(maxDepth: 64, maxBytes: 1 << 20)
    guard let root = try? parser.parse(Fuzz.bytes(data, size)) else { return 0 }
    let written = "<w:wrapper xmlns:w=\"urn:x-fuzz\">" + root.innerXML + "</w:wrapper>"
    do {
        let again = try parser.parse(Array(written.utf8))
        Fuzz.check(again.children == root.children, "children changed after a round trip: \(written)")
        Fuzz.check(again.text == root.text, "text changed after a round trip: \(written)")
    } catch {
        Fuzz.check(false, "written content does not parse: \(error): \(written)")
    }
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzXML($0.baseAddress, $0.count) } } }
    }
#endif
