import FuzzSupport
import MultiStatus

/// Member names the records reader is tried against: plain, one a prefix of another, and one
/// that is not ASCII, so that both of its ways of matching a name are taken.
private let names = JSONRecords.Names(["a", "ab", "id", "name", "é"])

/// The strict JSON reader must refuse or accept any bytes without trapping, and a value it accepts,
/// written back, must read as the same value. The records reader must agree with it on every input:
/// refuse what it refuses, and give each object's members by name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    let records = Result { () throws(MultiStatusError) in try JSONRecords.parse(bytes, names: names) }
    guard let value = try? JSONValue.parse(bytes) else {
        if case .success = records { Fuzz.check(false, "the records reader accepted a document the JSON reader refuses") }
        return 0
    }
    var written = ""
    value.writeJSON(into: &written)
    do {
        let again = try JSONValue.parse(Array(written.utf8))
        Fuzz.check(again == value, "value changed after a round trip: \(written)")
    } catch {
        Fuzz.check(false, "written JSON does not parse: \(error): \(written)")
    }
    guard case .success(let elements) = records else {
        Fuzz.check(false, "the records reader refused a document the JSON reader accepts")
        return 0
    }
    guard case .array(let array) = value else {
        Fuzz.check(elements == nil, "the records reader read a document that is not an array as one")
        return 0
    }
    Fuzz.check(elements?.count == array.count, "the records reader read another number of elements")
    for (element, expected) in zip(elements ?? [], array) {
        switch (element, expected) {
        case (.object(let values, let unknown), .object(let members)):
            Fuzz.check(values == names.names.map { members[$0] }, "the records reader read other values than the members")
            Fuzz.check(Set(unknown) == Set(members.keys).subtracting(names.names), "the records reader named other unknown members")
            Fuzz.check(Set(unknown).count == unknown.count, "the records reader named an unknown member twice")
        case (.other(let other), _):
            Fuzz.check(other == expected, "the records reader read another element")
        default:
            Fuzz.check(false, "the records reader read an object as something else, or the reverse")
        }
    }
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzJSON($0.baseAddress, $0.count) } } }
    }
#endif
