import Foundation
import HTTPTypes
import MultiStatus
import SQLKit
import Testing

@testable import MultiStatusServer

@Suite struct TableChecksTests {
    /// CHECK constraints are found by reading the statement by tokens: not inside strings,
    /// comments or quoted names, with their own names or their expression as SQLite names them.
    @Test func sqliteChecksAreReadFromTheTableStatement() {
        let sql = """
            CREATE TABLE gauges (
                id INTEGER PRIMARY KEY,
                "low level" REAL CHECK ("low level" >= 0), -- a comment with CHECK (high > 1000)
                high REAL,
                label TEXT DEFAULT 'CHECK (x' CHECK (length(label) <= 5),
                /* CHECK (nothing) */
                CONSTRAINT "high above low" CHECK (high >= "low level"),
                CONSTRAINT [no paren] check (label NOT LIKE '%)%')
            )
            """
        #expect(
            SQLiteTableDefinition.checks(in: sql) == [
                .init(name: #""low level" >= 0"#, expression: #""low level" >= 0"#, identifiers: ["low level"]),
                .init(name: "length(label) <= 5", expression: "length(label) <= 5", identifiers: ["label"]),
                .init(name: "high above low", expression: #"high >= "low level""#, identifiers: ["high", "low level"]),
                .init(name: "no paren", expression: "label NOT LIKE '%)%'", identifiers: ["label", "NOT", "LIKE"]),
            ])
        #expect(SQLiteTableDefinition.checks(in: "CREATE TABLE t (a TEXT CHECK (a <> 'unclosed)") == [])
    }

    /// Rows that break CHECKs are named by one query each once the database refuses the batch, on
    /// SQLite as on PostgreSQL; a trigger's refusal, which only the database decides, is found by
    /// group testing over savepoints; every other row is written.
    @Test(arguments: TestDatabase.allCases)
    func checksAndTriggersRefuseTheirRowsAlone(database: TestDatabase) async throws {
        let schema: [String] =
            [
                """
                CREATE TABLE gauges (
                    id INTEGER PRIMARY KEY,
                    "low level" NUMERIC(8, 2) CONSTRAINT low_positive CHECK ("low level" >= 0),
                    high REAL,
                    label TEXT,
                    CONSTRAINT high_above_low CHECK (high >= "low level")
                )
                """
            ]
            + (database == .sqlite
                ? ["CREATE TRIGGER no_secrets BEFORE INSERT ON gauges WHEN NEW.label = 'secret' BEGIN SELECT RAISE(ABORT, 'no secrets'); END"]
                : [
                    """
                    CREATE FUNCTION no_secrets() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN IF NEW.label = 'secret' THEN RAISE EXCEPTION 'no secrets'; END IF; RETURN NEW; END $$
                    """,
                    "CREATE TRIGGER no_secrets BEFORE INSERT ON gauges FOR EACH ROW EXECUTE FUNCTION no_secrets()",
                ])
        try await withTableServer(database, schema: schema, tables: [TableOptions(name: "gauges")]) { client, db in
            let rows = (1...40).map { id -> String in
                switch id {
                case 7: #"{"id": 7, "low level": -1, "high": 3}"#
                case 19: #"{"id": 19, "low level": 5, "high": 2}"#
                case 23: #"{"id": 23, "low level": 1, "high": 2, "label": "secret"}"#
                case 31: #"{"id": 31, "low level": "2.5", "high": 2}"#
                default: #"{"id": \#(id), "low level": 1, "high": 2, "label": "ok"}"#
                }
            }
            let result = try await sendBatch(
                client, .post, "/tables/gauges", "[\(rows.joined(separator: ","))]", collection: tableCollection("created", "gauges"))
            let items = try #require(result.body).items
            let failed = items.filter { !$0.succeeded }
            #expect(failed.map(\.id) == [7, 19, 23, 31])
            #expect(failed.map(\.status.code) == [422, 422, 422, 422])
            #expect(failed[0].problem?.extensions["constraint"] == "low_positive")
            #expect(failed[1].problem?.extensions["constraint"] == "high_above_low")
            #expect(failed[2].problem?.detail?.contains("no secrets") == true)
            // "2.5" is stored as the number 2.5 in a NUMERIC column, which is above 2.
            #expect(failed[3].problem?.extensions["constraint"] == "high_above_low")
            let stored = try await storedRows(db, "SELECT COUNT(*) AS n FROM gauges", columns: ["n"])
            #expect(stored == [["36"]])
        }
    }

    /// Group testing finds every row a trigger refuses, wherever they stand: the first and the
    /// last, neighbours, runs of them, a part where every row is refused; and writes all others.
    @Test(arguments: TestDatabase.allCases)
    func manyRefusedRowsAreEachFoundAndTheRestWritten(database: TestDatabase) async throws {
        let schema: [String] =
            ["CREATE TABLE notes (id INTEGER PRIMARY KEY, label TEXT NOT NULL)"]
            + (database == .sqlite
                ? ["CREATE TRIGGER no_no BEFORE INSERT ON notes WHEN NEW.label = 'no' BEGIN SELECT RAISE(ABORT, 'refused'); END"]
                : [
                    """
                    CREATE FUNCTION no_no() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN IF NEW.label = 'no' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$
                    """,
                    "CREATE TRIGGER no_no BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION no_no()",
                ])
        let refused = Set([1, 2, 3, 57, 58, 100] + Array(120...135) + [298, 299, 300])
        try await withTableServer(database, schema: schema, tables: [TableOptions(name: "notes")]) { client, db in
            let rows = (1...300).map { #"{"id": \#($0), "label": "\#(refused.contains($0) ? "no" : "yes")"}"# }
            let result = try await sendBatch(
                client, .post, "/tables/notes", "[\(rows.joined(separator: ","))]", collection: tableCollection("created", "notes"))
            let items = try #require(result.body).items
            #expect(items.map(\.id) == (1...300).map { .int($0) })
            #expect(items.filter { !$0.succeeded }.map(\.id) == refused.sorted().map { .int($0) })
            #expect(items.filter { !$0.succeeded }.allSatisfy { $0.status.code == 422 && $0.problem?.detail?.contains("refused") == true })
            let stored = try await storedRows(db, "SELECT id FROM notes ORDER BY id", columns: ["id"])
            #expect(stored == (1...300).filter { !refused.contains($0) }.map { ["\($0)"] })
        }
    }
}
