import FuzzSupport
import MultiStatus
import MultiStatusServer

/// URL paths and `?dir=` values become store paths only through valid names, and a path written
/// back as a URL reads as the same path; a table key's parts written into a URL read back too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStorePath(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
    for path in [try? StorePath(encodedURLPath: Substring(text)), try? StorePath(relative: text)].compactMap({ $0 }) {
        for name in path.components {
            Fuzz.check((try? StorePath.validateName(name)) != nil, "invalid name \(name.debugDescription) from \(text.debugDescription)")
            Fuzz.check(name != "." && name != ".." && !name.contains("/"), "name \(name.debugDescription) leaves its folder")
        }
        let url = path.urlPath(under: "/")
        Fuzz.check((try? StorePath(encodedURLPath: url.dropFirst())) == path, "\(url) does not read back as \(path)")
    }
    // A table's key in a URL segment: its parts read back as they were written.
    if let parts = TableKey.parts(Substring(text)) {
        let written = parts.map(TableKey.encodePart).joined(separator: ",")
        Fuzz.check(!written.contains("/") && !written.contains(";"), "key \(written) would split a path or a key list")
        Fuzz.check(TableKey.parts(Substring(written)) == parts, "key \(text.debugDescription) does not read back as \(parts)")
    }
    if let decoded = PercentEncoding.decode(text) {
        Fuzz.check(
            PercentEncoding.decode(PercentEncoding.encodePath(decoded)) == decoded, "percent-encoding does not round-trip \(text.debugDescription)")
    }
    return 0
}

#if !FUZZING
    /// A plain build replays the files or folders named on its command line.
    @main enum Replay {
        static func main() { Fuzz.replay { bytes in bytes.withUnsafeBufferPointer { _ = fuzzStorePath($0.baseAddress, $0.count) } } }
    }
#endif
