import MultiStatus
import Testing

@Suite struct JSONRecordsTests {
    private let names = JSONRecords.Names(["id", "name", "é"])

    @Test func eachObjectGivesItsValuesInTheOrderOfTheNames() throws {
        let text = #"[{"name": "Ann", "id": 1, "colour": "red"}, {"\u00e9": true, "id": 2, "id": 3}, 7, {}]"#
        let records = try JSONRecords.parse(Array(text.utf8), names: self.names)
        #expect(
            records == [
                .object([1, "Ann", nil], unknown: ["colour"]),
                // A name written with escapes is the same name; the last of two is kept, as JSONValue.parse keeps it.
                .object([3, nil, true], unknown: []),
                .other(7),
                .object([nil, nil, nil], unknown: []),
            ])
    }

    @Test func aDocumentThatIsNotAnArrayIsReadButGivesNothing() throws {
        #expect(try JSONRecords.parse(Array(#"{"id": 1}"#.utf8), names: self.names) == nil)
        #expect(try JSONRecords.parse(Array("[]".utf8), names: self.names) == [])
    }

    @Test func malformedDocumentsAreRefusedAsJSONValueRefusesThem() {
        let invalidName = Array(#"[{""#.utf8) + [0xFF] + Array(#"": 1}]"#.utf8)
        for bytes in [#"[{"id": 1,}]"#, #"[{"id" 1}]"#, "[{\"na\u{01}me\": 1}]", #"[{"id": 1}] x"#, "["].map({ Array($0.utf8) }) + [invalidName] {
            #expect(throws: MultiStatusError.self) { try JSONRecords.parse(bytes, names: self.names) }
            #expect(throws: MultiStatusError.self) { try JSONValue.parse(bytes) }
        }
    }
}
