import FuzzSupport
import MultiStatusServer

/// A `Range` header against a file of any size gives the whole file, 416, too many ranges past the cap, or bytes inside the file.
/// The first two input bytes choose the file's size; the rest is the header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRange(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    guard bytes.count >= 2 else { return 0 }
    let sizes = [0, 1, 2, 10, 100, 1 << 20, Int.max / 2, Int.max]
    let fileSize = max(0, sizes[Int(bytes[0]) % sizes.count] - Int(bytes[1] % 4))
    let header = String(decoding: bytes.dropFirst(2), as: UTF8.self)
    switch ByteRange.parse(header, size: fileSize, maxRanges: 4) {
    case .whole, .unsatisfiable: break
    case .tooMany(let count): Fuzz.check(count > 4, "\(count) ranges refused under a cap of 4 for \(header.debugDescription)")
    case .range(let range):
        Fuzz.check(range.lowerBound >= 0 && range.upperBound < fileSize, "\(range) is outside a \(fileSize)-byte file for \(header.debugDescription)")
    }
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzRange($0.baseAddress, $0.count) } } }
    }
#endif
