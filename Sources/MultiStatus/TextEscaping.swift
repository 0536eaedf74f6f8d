/// Appends `text` to `out`, copying runs of bytes that need nothing whole, and for each byte that
/// `replacement` answers, its text instead of that many bytes. JSON strings and XML text are both
/// escaped through this one loop; most texts are a single run and cost one append.
/// `mayReplace` is a cheap first test of a byte; `replacement` is asked only for bytes that pass it.
@inline(__always)
func appendEscaping(
    _ text: String,
    into out: inout String,
    mayReplace: (UInt8) -> Bool,
    _ replacement: (_ bytes: String.UTF8View, _ index: String.UTF8View.Index) -> (text: String, width: Int)?
) {
    // Most texts need nothing: one scan of their contiguous bytes, then one append.
    if text.utf8.withContiguousStorageIfAvailable({ !$0.contains(where: mayReplace) }) == true {
        out += text
        return
    }
    let bytes = text.utf8
    var runStart = bytes.startIndex
    var index = bytes.startIndex
    while index != bytes.endIndex {
        guard mayReplace(bytes[index]), let (replaced, width) = replacement(bytes, index) else {
            index = bytes.index(after: index)
            continue
        }
        out += Substring(bytes[runStart..<index])
        out += replaced
        index = bytes.index(index, offsetBy: width)
        runStart = index
    }
    if runStart == bytes.startIndex {
        out += text
    } else {
        out += Substring(bytes[runStart..<bytes.endIndex])
    }
}

extension String.UTF8View {
    /// The third byte of the three-byte sequence at `index` when its second byte is `second`; nil otherwise.
    @inline(__always)
    func thirdByte(at index: Index, ifSecondIs second: UInt8) -> UInt8? {
        let next = self.index(after: index)
        guard next != self.endIndex, self[next] == second else { return nil }
        let third = self.index(after: next)
        return third != self.endIndex ? self[third] : nil
    }
}
