import FuzzSupport
import MultiStatus

/// The strict JSON reader must refuse or accept any bytes without trapping, and a value it accepts,
/// written back, must read as the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let value = try? JSONValue.parse(Fuzz.bytes(data, size)) else { return 0 }
    var written = ""
    value.writeJSON(into: &written)
    do {
        let again = try JSONValue.parse(Array(written.utf8))
        Fuzz.check(again == value, "value changed after a round trip: \(written)")
    } catch {
        Fuzz.check(false, "written JSON does not parse: \(error): \(written)")
    }
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzJSON($0.baseAddress, $0.count) } } }
    }
#endif
