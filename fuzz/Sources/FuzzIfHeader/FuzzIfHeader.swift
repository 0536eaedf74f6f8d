import FuzzSupport
import MultiStatusServer

/// The WebDAV `If` header parser must refuse or accept any header value without trapping; what it
/// accepts has at least one list, and no list without a condition.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIfHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
    guard let header = try? DAVIfHeader(parsing: text) else { return 0 }
    Fuzz.check(!header.lists.isEmpty, "an If header without lists was accepted: \(text.debugDescription)")
    Fuzz.check(header.lists.allSatisfy { !$0.conditions.isEmpty }, "an empty list was accepted: \(text.debugDescription)")
    _ = header.submittedTokens
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzIfHeader($0.baseAddress, $0.count) } } }
    }
#endif
