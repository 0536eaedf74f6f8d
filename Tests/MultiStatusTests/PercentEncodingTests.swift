import MultiStatus
import Testing

@Suite struct PercentEncodingTests {
    @Test(arguments: [
        ("plain.txt", "plain.txt"), ("a%20b", "a b"), ("%C3%BC", "ü"), ("100%25", "100%"), ("%2F", "/"), ("", ""),
    ])
    func decodesPathSegments(encoded: String, decoded: String) {
        #expect(PercentEncoding.decode(encoded) == decoded)
    }

    @Test(arguments: ["%", "%2", "%zz", "a%G0", "%FF", "%C3"])
    func refusesMalformedOrNonUTF8(encoded: String) {
        #expect(PercentEncoding.decode(encoded) == nil)
    }

    @Test func encodingThenDecodingGivesTheNameBack() {
        for name in ["n 1 #?%ü", "plain", "a/b", "100%", "日本語.txt", "quote\"'<>&"] {
            #expect(PercentEncoding.decode(PercentEncoding.encodePath(name)) == name)
        }
    }
}
