import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import SQLKit
import Testing

private let created = tableCollection("created", "books")
private let updates = tableCollection("updates", "books")

@Suite struct TableBatchTests {
    /// Two authors by POST (keys made by the database), and book b0 straight in SQL.
    private func seed(_ client: some TestClientProtocol, _ database: Database) async throws {
        let authors = try await sendBatch(
            client, .post, "/tables/authors", #"[{"name": "Ann"}, {"name": "Ben", "active": false}]"#, headers: [.prefer: "return=representation"],
            collection: tableCollection("created", "authors"))
        let items = try #require(authors.body).items
        #expect(items.map(\.status.code) == [201, 201])
        #expect(items.map(\.id) == [1, 2])
        #expect(items[1].location == "/tables/authors/2")
        #expect(items[1].fields["row"] == ["id": 2, "name": "Ben", "active": false])
        #expect(items[0].fields["row"]?.objectMembers["active"] == true)
        try await operatorSQL(database, "INSERT INTO books (isbn, title, version) VALUES ('b0', 'Zero', 1)")
    }

    @Test(arguments: TestDatabase.allCases)
    func everyFailureOfAnInsertIsNamedAndTheOtherRowsAreApplied(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            let body = """
                [
                    {"isbn": "b1", "title": "One", "author_id": 1, "shelf": "A", "position": 1, "price": 10},
                    {"isbn": "b2", "title": 5},
                    {"isbn": "b3"},
                    {"isbn": "b4", "title": "Four", "colour": "red"},
                    {"isbn": "b5", "title": "Five", "shelf": "A", "position": 1},
                    {"isbn": "b6", "title": "Six", "author_id": 99},
                    {"isbn": "b7", "title": "Seven", "price": -1},
                    {"isbn": "b0", "title": "Again"},
                    {"isbn": "b9", "title": "Nine", "stock": 5},
                    {"isbn": "b10", "title": "Ten", "author_id": 2, "shelf": "A", "position": 2, "price": "12.50"},
                    {"title": "No key"}
                ]
                """
            let result = try await sendBatch(client, .post, "/tables/books", body, headers: [.prefer: "return=representation"], collection: created)
            #expect(result.status == .multiStatus)
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [201, 400, 422, 422, 409, 409, 422, 409, 403, 201, 400])
            #expect(items.map(\.id) == ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b0", "b9", "b10", nil])
            #expect(items[0].location == "/tables/books/b1")
            #expect(items[0].fields["version"] == 1)
            #expect(items[0].fields["row"]?.objectMembers["stock"] == 0)
            #expect(items[1].problem?.extensions["column"] == "title")
            #expect(items[2].problem?.extensions["column"] == "title")
            #expect(items[3].problem?.extensions["column"] == "colour")
            #expect(items[4].problem?.extensions["constraint"] == "books_shelf_position")
            #expect(items[4].problem?.extensions["columns"] == ["shelf", "position"])
            #expect(items[4].problem?.detail?.contains("an earlier item of this batch") == true)
            #expect(items[5].problem?.extensions["constraint"] == (database == .postgres ? "books_author_id_fkey" : "foreign key (author_id)"))
            #expect(items[6].problem?.extensions["constraint"] == "price_positive")
            #expect(items[7].problem?.extensions["columns"] == ["isbn"])
            #expect(items[7].problem?.detail?.contains("another row") == true)
            #expect(items[8].problem?.extensions["column"] == "stock")
            #expect(items[10].problem?.extensions["column"] == "isbn")
            let rows = try await storedRows(
                db, "SELECT isbn, title, author_id, stock, version FROM books ORDER BY isbn",
                columns: ["isbn", "title", "author_id", "stock", "version"])
            #expect(rows == [["b0", "Zero", "NULL", "0", "1"], ["b1", "One", "1", "0", "1"], ["b10", "Ten", "2", "0", "1"]])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func everyFailureOfAnUpdateIsNamedAndTheOtherRowsAreApplied(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            let seeded = try await sendBatch(
                client, .post, "/tables/books",
                #"[{"isbn": "b1", "title": "One", "shelf": "A", "position": 1}, {"isbn": "b2", "title": "Two", "shelf": "A", "position": 2}]"#,
                collection: created)
            #expect(seeded.body?.items.map(\.status.code) == [201, 201])
            let more = (3...7).map { #"{"isbn": "b\#($0)", "title": "N\#($0)"}"# }.joined(separator: ",")
            #expect(try await sendBatch(client, .post, "/tables/books", "[\(more)]", collection: created).body?.summary.succeeded == 5)
            let body = """
                [
                    {"isbn": "b1", "title": "One, revised", "version": 1},
                    {"isbn": "b1", "title": "Twice"},
                    {"isbn": "none", "title": "x"},
                    {"isbn": "b2", "title": "x", "version": 7},
                    {"isbn": "b3", "shelf": "A", "position": 1},
                    {"isbn": "b4", "price": 0},
                    {"isbn": "b5", "author_id": 42},
                    {"isbn": "b6", "stock": 3},
                    {"isbn": "b7"},
                    {"isbn": "b0", "author_id": 2, "title": "Zero, revised"}
                ]
                """
            let result = try await sendBatch(client, .patch, "/tables/books", body, headers: [.prefer: "return=representation"], collection: updates)
            let items = try #require(result.body).items
            #expect(items.map(\.status.code) == [200, 409, 404, 412, 409, 422, 409, 403, 422, 200])
            #expect(items[0].fields["version"] == 2)
            #expect(items[0].fields["row"]?.objectMembers["title"] == "One, revised")
            #expect(items[1].problem?.detail?.contains("more than once") == true)
            #expect(items[3].problem?.extensions["currentVersion"] == 1)
            #expect(items[4].problem?.extensions["constraint"] == "books_shelf_position")
            #expect(items[4].problem?.detail?.contains("another row") == true)
            #expect(items[5].problem?.extensions["constraint"] == "price_positive")
            #expect(items[6].problem?.extensions["constraint"] == (database == .postgres ? "books_author_id_fkey" : "foreign key (author_id)"))
            #expect(items[7].problem?.extensions["column"] == "stock")
            #expect(items[9].fields["version"] == 2)
            let rows = try await storedRows(
                db, "SELECT isbn, title, author_id, shelf, position, version FROM books WHERE version > 1 OR isbn IN ('b2', 'b3') ORDER BY isbn",
                columns: ["isbn", "title", "author_id", "shelf", "position", "version"])
            #expect(
                rows == [
                    ["b0", "Zero, revised", "2", "NULL", "NULL", "2"], ["b1", "One, revised", "NULL", "A", "1", "2"],
                    ["b2", "Two", "NULL", "A", "2", "1"],
                    ["b3", "N3", "NULL", "NULL", "NULL", "1"],
                ])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func upsertTellsCreatedFromUpdatedAndDeleteNamesWhatItCannot(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            let upserts = try await sendBatch(
                client, .put, "/tables/books",
                #"[{"isbn": "b0", "title": "Zero again", "author_id": 1}, {"isbn": "b20", "title": "Twenty"}, {"isbn": "b21"}, {"isbn": "b22", "title": "x", "version": 3}]"#,
                collection: tableCollection("upserts", "books"))
            let items = try #require(upserts.body).items
            #expect(items.map(\.status.code) == [200, 201, 422, 412])
            #expect(items[0].fields["version"] == 2)
            #expect(items[1].fields["version"] == 1)
            #expect(
                try await storedRows(db, "SELECT isbn, title, version FROM books ORDER BY isbn", columns: ["isbn", "title", "version"]) == [
                    ["b0", "Zero again", "2"], ["b20", "Twenty", "1"],
                ])

            // Author 1 is referred to by b0: the database refuses, and only that key fails.
            let authors = try await sendBatch(
                client, .delete, "/tables/authors", #"{"keys": [1, 2, 3, "x"]}"#, collection: tableCollection("deletions", "authors"))
            let deletions = try #require(authors.body).items
            #expect(deletions.map(\.status.code) == [409, 204, 404, 400])
            #expect(
                deletions[0].problem?.extensions["constraint"]
                    == (database == .postgres ? "books_author_id_fkey" : "foreign key (author_id) of books"))
            #expect(try await storedRows(db, "SELECT id FROM authors ORDER BY id", columns: ["id"]) == [["1"]])

            let books = try await sendBatch(
                client, .delete, "/tables/books", #"{"keys": ["b20", "b20", "zz"]}"#, collection: tableCollection("deletions", "books"))
            #expect(books.body?.items.map(\.status.code) == [204, 404, 404])
            #expect(try await storedRows(db, "SELECT isbn FROM books", columns: ["isbn"]) == [["b0"]])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func atomicModeChangesNothingWhenTheDatabaseRefusesOneRow(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            let body = #"[{"isbn": "b1", "title": "One"}, {"isbn": "b2", "title": "Two", "price": -5}, {"isbn": "b3", "title": "Three"}]"#
            let result = try await sendBatch(client, .post, "/tables/books", body, headers: [.prefer: "atomic"], collection: created)
            #expect(result.status == .unprocessableContent)
            #expect(result.body?.items.map(\.status.code) == [424, 422, 424])
            let patch = try await sendBatch(
                client, .patch, "/tables/books", #"[{"isbn": "b0", "title": "Changed"}, {"isbn": "b9", "title": "x"}]"#, headers: [.prefer: "atomic"],
                collection: updates)
            #expect(patch.body?.items.map(\.status.code) == [424, 404])
            #expect(try await storedRows(db, "SELECT isbn, title FROM books", columns: ["isbn", "title"]) == [["b0", "Zero"]])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func concurrentUpdatesFromTheSameVersionGiveOne200AndOne412(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            @Sendable func patch(_ title: String) async throws -> Int {
                let result = try await sendBatch(
                    client, .patch, "/tables/books", #"[{"isbn": "b0", "title": "\#(title)", "version": 1}]"#, collection: updates)
                return try #require(result.body?.items.first).status.code
            }
            async let first = patch("First")
            async let second = patch("Second")
            #expect(try await [first, second].sorted() == [200, 412])
            #expect(try await storedRows(db, "SELECT version FROM books", columns: ["version"]) == [["2"]])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func readsByKeyOneRowAndPagesWithCompositeAndTextKeys(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            _ = try await sendBatch(
                client, .post, "/tables/books", #"[{"isbn": "a/b,c", "title": "Odd key"}, {"isbn": "b1", "title": "One"}]"#, collection: created)
            let read = try await client.execute(uri: "/tables/books?keys=b1,zz,a%2Fb%2Cc", method: .get) { response in
                (response.status, try MultiStatusServerTests.read(response.body, .json, tableCollection("rows", "books")))
            }
            #expect(read.0 == .multiStatus)
            #expect(read.1.items.map(\.status.code) == [200, 404, 200])
            #expect(read.1.items[2].location == "/tables/books/a%2Fb%2Cc")
            #expect(read.1.items[0].fields["row"]?.objectMembers["title"] == "One")

            try await client.execute(uri: "/tables/books/a%2Fb%2Cc", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] == "\"1\"")
                let row = try json(response.body)
                #expect(row["title"] as? String == "Odd key")
            }
            try await client.execute(uri: "/tables/books/none", method: .get) { #expect($0.status == .notFound) }

            let first = try await client.execute(uri: "/tables/books?limit=2", method: .get) { try json($0.body) }
            #expect((first["rows"] as? [[String: Any]])?.map { $0["isbn"] as? String } == ["a/b,c", "b0"])
            let next = try #require(first["next"] as? String)
            let second = try await client.execute(uri: next, method: .get) { try json($0.body) }
            #expect((second["rows"] as? [[String: Any]])?.map { $0["isbn"] as? String } == ["b1"])
            #expect(second["next"] is NSNull)

            let events = try await sendBatch(
                client, .put, "/tables/events", #"[{"region": "eu", "seq": 1, "note": "a"}, {"region": "us", "seq": 1}]"#,
                collection: tableCollection("upserts", "events"))
            #expect(events.body?.items.map(\.status.code) == [201, 201])
            #expect(events.body?.items.first?.id == ["region": "eu", "seq": 1])
            #expect(events.body?.items.first?.location == "/tables/events/eu,1")
            let byKeys = try await client.execute(uri: "/tables/events?keys=eu,1;us,2;eu,x", method: .get) {
                try MultiStatusServerTests.read($0.body, .json, tableCollection("rows", "events"))
            }
            #expect(byKeys.items.map(\.status.code) == [200, 404, 400])
            let event = try await client.execute(uri: "/tables/events/eu,1", method: .get) { try json($0.body) }
            #expect(event["note"] as? String == "a")
            let deleted = try await sendBatch(
                client, .delete, "/tables/events", #"{"keys": [{"region": "eu", "seq": 1}, "us"]}"#,
                collection: tableCollection("deletions", "events"))
            #expect(deleted.body?.items.map(\.status.code) == [204, 400])
            #expect(try await storedRows(db, "SELECT region FROM events", columns: ["region"]) == [["us"]])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func idempotencyOnlyFailedAndWholeRequestProblems(database: TestDatabase) async throws {
        try await withTableServer(database) { client, db in
            try await self.seed(client, db)
            let body = #"[{"isbn": "b1", "title": "One"}, {"isbn": "b2"}]"#
            let first = try await sendBatch(client, .post, "/tables/books", body, headers: [.init("Idempotency-Key")!: "t-1"], collection: created)
            let again = try await sendBatch(client, .post, "/tables/books", body, headers: [.init("Idempotency-Key")!: "t-1"], collection: created)
            #expect(first.body?.items.map(\.status.code) == [201, 422])
            #expect(again.body == first.body)
            #expect(again.headers[.init("Idempotency-Replayed")!] == "true")
            let onlyFailed = try await sendBatch(
                client, .post, "/tables/books?only=failed", #"[{"isbn": "b3", "title": "Three"}, {"isbn": "b1", "title": "Dup"}]"#,
                collection: created)
            #expect(onlyFailed.body?.items.map(\.status.code) == [409])
            // Answers carry keys and versions; Prefer: return=representation adds the rows.
            let minimal = try await sendBatch(
                client, .post, "/tables/books", #"[{"isbn": "b4", "title": "Four"}]"#, headers: [.prefer: "return=minimal"], collection: created)
            #expect(minimal.body?.items.first?.fields == ["version": 1])
            #expect(minimal.headers[.init("Preference-Applied")!] == "return=minimal")
            // A key used for one shape of answer replays in that shape however it is asked for, and not in another.
            let shaped = #"[{"isbn": "b5", "title": "Five"}]"#
            let key: HTTPFields = [.init("Idempotency-Key")!: "t-2"]
            let plain = try await sendBatch(client, .post, "/tables/books", shaped, headers: key, collection: created)
            #expect(plain.body?.summary.succeeded == 1)
            #expect(plain.headers[.init("Preference-Applied")!] == nil)
            let sameShape = try await sendBatch(
                client, .post, "/tables/books", shaped, headers: key + [.prefer: "return=minimal"], collection: created)
            #expect(sameShape.headers[.init("Idempotency-Replayed")!] == "true")
            #expect(sameShape.body == plain.body)
            let otherShape = try await sendBatch(
                client, .post, "/tables/books", shaped, headers: key + [.prefer: "return=representation"], collection: created)
            #expect(otherShape.status == .unprocessableContent)
            let minimalPatch = try await sendBatch(client, .patch, "/tables/books", #"[{"isbn": "b4", "title": "Four!"}]"#, collection: updates)
            #expect(minimalPatch.body?.items.first?.fields == ["version": 2])
            let fullPatch = try await sendBatch(
                client, .patch, "/tables/books", #"[{"isbn": "b4", "title": "Four!!"}]"#, headers: [.prefer: "return=representation"],
                collection: updates)
            #expect(fullPatch.body?.items.first?.fields["row"]?.objectMembers["title"] == "Four!!")
            #expect(fullPatch.body?.items.first?.fields["version"] == 3)
            #expect(fullPatch.headers[.init("Preference-Applied")!] == "return=representation")
            #expect(
                try await storedRows(db, "SELECT isbn, title, version FROM books ORDER BY isbn", columns: ["isbn", "title", "version"]) == [
                    ["b0", "Zero", "1"], ["b1", "One", "1"], ["b3", "Three", "1"], ["b4", "Four!!", "3"], ["b5", "Five", "1"],
                ])

            let unserved = try await sendBatch(client, .post, "/tables/users", "[]", collection: created)
            #expect(unserved.status == .notFound)
            #expect((unserved.problem?["detail"] as? String)?.contains("served: authors, books, events") == true)
            let notJSON = try await sendBatch(client, .post, "/tables/books", "[{", collection: created)
            #expect(notJSON.status == .badRequest)
            let tooLarge = try await client.execute(uri: "/tables/books?limit=100000", method: .get) { $0.status }
            #expect(tooLarge == .contentTooLarge)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func outOfRangeNumbersAndWrongTypesAreRefusedPerRow(database: TestDatabase) async throws {
        let schema = [
            "CREATE TABLE measures (id BIGINT PRIMARY KEY, small SMALLINT, ratio REAL, flag BOOLEAN, data \(database == .postgres ? "JSONB" : "JSON"), day DATE, code VARCHAR(3))"
        ]
        try await withTableServer(database, schema: schema, tables: [TableOptions(name: "measures")]) { client, db in
            let body = """
                [
                    {"id": 1, "small": 7, "ratio": 0.5, "flag": true, "data": {"a": [1, 2]}},
                    {"id": 2, "small": 70000},
                    {"id": 3, "ratio": "half"},
                    {"id": 4, "flag": 1},
                    {"id": 5.5},
                    {"id": 9223372036854775807, "small": -3},
                    {"id": 7, "day": "2026-12-02"},
                    {"id": 8, "day": "the day after"},
                    {"id": 10, "code": "abcd"},
                    {"id": 11, "code": "ééé"},
                    {"id": 12, "code": "e\\u0301e\\u0301"}
                ]
                """
            let result = try await sendBatch(
                client, .post, "/tables/measures", body, headers: [.prefer: "return=representation"],
                collection: tableCollection("created", "measures"))
            let items = try #require(result.body).items
            // SQLite's SMALLINT is an integer of any size, as SQLite stores it.
            // PostgreSQL alone reads dates, and refuses one it cannot read: the row is found by bisection.
            #expect(
                items.map(\.status.code) == [
                    201, database == .postgres ? 400 : 201, 400, 400, 400, 201, 201, database == .postgres ? 400 : 201,
                    database == .postgres ? 422 : 201, 201, database == .postgres ? 422 : 201,
                ])
            #expect(items[0].fields["row"] == ["id": 1, "small": 7, "ratio": 0.5, "flag": true, "data": ["a": [1, 2]], "day": nil, "code": nil])
            #expect(items[2].problem?.extensions["column"] == "ratio")
            let count = try await storedRows(db, "SELECT COUNT(*) AS n FROM measures", columns: ["n"])
            #expect(count == [[database == .postgres ? "4" : "8"]])
            // SQLite keeps any length in a VARCHAR(3); PostgreSQL's limit is checked before writing.
            if database == .postgres { #expect(items[8].problem?.extensions["limit"] == 3) }
            if database == .postgres { #expect(items[7].problem?.detail?.contains("the day after") == true) }
        }
    }
}

@Suite struct TablePermissionTests {
    @Test(arguments: TestDatabase.allCases)
    func perTableReadersAndWriters(database: TestDatabase) async throws {
        let alice = TestAccount(name: "alice", password: "a-secret 1", permission: "write")
        let bob = TestAccount(name: "bob", password: "b-secret 2", permission: "write")
        let rita = TestAccount.reader
        try await withTemporaryDirectory { folder in
            let accountFile = folder + "/accounts"
            try Data(([alice, bob, rita].map(\.line).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: accountFile))
            let accounts = try AccountDirectory(accountFile: accountFile, tokenFile: nil, logger: testLogger())
            let tables = [
                TableOptions(name: "books", version: "version", readers: ["alice", "rita"], writers: ["bob"]),
                TableOptions(name: "authors", readers: ["bob"]),
            ]
            try await withTableServer(database, tables: tables, { $0.accounts = accounts }) { client, db in
                let row = #"[{"isbn": "b1", "title": "One"}]"#
                #expect(try await sendBatch(client, .post, "/tables/books", row, collection: created).status == .unauthorized)
                #expect(try await sendBatch(client, .post, "/tables/books", row, headers: alice.headers, collection: created).status == .forbidden)
                #expect(try await sendBatch(client, .post, "/tables/books", row, headers: rita.headers, collection: created).status == .forbidden)
                #expect(try await storedRows(db, "SELECT isbn FROM books", columns: ["isbn"]) == [])
                #expect(try await client.execute(uri: "/tables/books?limit=1", method: .get, headers: alice.headers) { $0.status } == .ok)
                let authors = try await sendBatch(
                    client, .post, "/tables/authors", #"[{"name": "Ann"}]"#, headers: alice.headers, collection: created)
                #expect(authors.status == .notFound)
                #expect(try await client.execute(uri: "/tables/authors?limit=1", method: .get, headers: alice.headers) { $0.status } == .notFound)
                #expect(try await storedRows(db, "SELECT id FROM authors", columns: ["id"]) == [])
                let applied = try await sendBatch(client, .post, "/tables/books", row, headers: bob.headers, collection: created)
                #expect(applied.body?.items.map(\.status.code) == [201])
                #expect(try await storedRows(db, "SELECT isbn FROM books", columns: ["isbn"]) == [["b1"]])
            }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aTableThatCannotBeServedStopsTheStart(database: TestDatabase) async throws {
        // On SQLite the server's tables share the operator's file only when asked to (--schema main).
        let oneFile: (inout ServerConfiguration) -> Void = { $0.databaseSchema = "main" }
        for (options, configure, message) in [
            (TableOptions(name: "missing"), { _ in }, "table missing does not exist in the database"),
            database == .sqlite
                ? (TableOptions(name: "users"), oneFile, "table users is one of the server's own")
                : (TableOptions(name: "users", schema: "multistatus"), { _ in }, "table users is one of the server's own (in multistatus)"),
            (TableOptions(name: "books", version: "colour"), { _ in }, "table books: version column colour does not exist"),
            (TableOptions(name: "books", key: ["title"]), { _ in }, "table books: key title is neither the primary key nor UNIQUE"),
        ] as [(TableOptions, (inout ServerConfiguration) -> Void, String)] {
            await #expect {
                try await withTableServer(database, tables: [options], configure) { _, _ in }
            } throws: { error in
                (error as? ConfigurationError)?.description.contains(message) == true
            }
        }
    }
}

@Suite struct ServerSchemaTests {
    /// The server's tables live apart from the operator's (a schema of their own on PostgreSQL, a
    /// file of their own on SQLite), so an operator's table named as one of them is theirs to serve.
    @Test(arguments: TestDatabase.allCases)
    func anOperatorsUsersTableIsServedBesideTheServersOwn(database: TestDatabase) async throws {
        let schema = ["CREATE TABLE users (login TEXT PRIMARY KEY, shell TEXT NOT NULL)"]
        try await withTableServer(database, schema: schema, tables: [TableOptions(name: "users")]) { client, db in
            let theirs = try await sendBatch(
                client, .post, "/tables/users", #"[{"login": "root", "shell": "/bin/sh"}]"#, collection: tableCollection("created", "users"))
            #expect(theirs.body?.items.map(\.status.code) == [201])
            let ours = try await sendBatch(
                client, .post, "/users", #"[{"name": "Ann", "email": "ann@example.com"}]"#,
                collection: ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/"))
            #expect(ours.body?.items.map(\.status.code) == [201])
            #expect(try await storedRows(db, "SELECT login FROM users", columns: ["login"]) == [["root"]])
            try await client.execute(uri: "/users/1", method: .get) { response in
                #expect(response.status == .ok)
                let user = try json(response.body)
                #expect(user["email"] as? String == "ann@example.com")
            }
            try await client.execute(uri: "/tables/users/root", method: .get) { response in
                let row = try json(response.body)
                #expect(row["shell"] as? String == "/bin/sh")
            }
            if database == .postgres {
                #expect(try await storedRows(db, "SELECT email FROM multistatus.users", columns: ["email"]) == [["ann@example.com"]])
            }
        }
    }

    /// On SQLite the server's tables are in `<data-dir>/multistatus.sqlite`, the operator's file
    /// attached beside it; a file an earlier version kept them in gives them up at the next start,
    /// rows and all.
    @Test func theTablesOfAnEarlierVersionMoveOutOfTheOperatorsSQLiteFile() async throws {
        try await withTemporaryDirectory { folder in
            let url = "sqlite:\(folder)/operator.sqlite"
            let old = try await Database.open(url: url, schema: "main", logger: testLogger())
            try await old.withConnection { sql in
                try await sql.raw(
                    """
                    INSERT INTO users (name, email, email_key, role, version, created_at, updated_at)
                    VALUES ('Ann', 'a@x.io', 'a@x.io', 'member', 3, 'now', 'now'), ('Zed', 'z@x.io', 'z@x.io', 'member', 1, 'now', 'now')
                    """
                ).run()
                // An id once given (2) is not given again after the move.
                try await sql.raw("DELETE FROM users WHERE id = 2").run()
                try await sql.raw("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)").run()
            }
            await old.close()
            try await withServer({
                $0.databaseURL = url
                $0.tables = [TableOptions(name: "notes")]
            }) { client, configuration in
                try await client.execute(uri: "/users/1", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.eTag] == "\"3\"")
                }
                let created = try await sendBatch(
                    client, .post, "/users", #"[{"name": "Ben", "email": "b@x.io"}]"#,
                    collection: ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/"))
                #expect(created.body?.items.first?.location == "/users/3")
                let notes = try await sendBatch(
                    client, .post, "/tables/notes", #"[{"text": "kept"}]"#, collection: tableCollection("created", "notes"))
                #expect(notes.body?.items.map(\.status.code) == [201])
                let operatorFile = try await Database.open(url: url, migrating: false, logger: testLogger())
                let left = try await storedRows(
                    operatorFile, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name", columns: ["name"])
                await operatorFile.close()
                #expect(left == [["notes"]])
                let own = try await Database.open(url: "sqlite:\(configuration.dataDirectory)/multistatus.sqlite", logger: testLogger())
                let users = try await storedUsers(own)
                await own.close()
                #expect(users.mapValues(\.email) == [1: "a@x.io", 3: "b@x.io"])
            }
        }
    }

    /// Another application's `schema_migrations` and `users` (as a Rails application keeps them)
    /// are not taken for the server's: they stay where they are, and can be served.
    @Test(arguments: TestDatabase.allCases)
    func anotherApplicationsMigrationsAreLeftAlone(database: TestDatabase) async throws {
        let schema = [
            "CREATE TABLE schema_migrations (version VARCHAR(255) PRIMARY KEY)",
            "INSERT INTO schema_migrations VALUES ('20240101000000')",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
            "INSERT INTO users VALUES (7, 'rails@example.com')",
        ]
        try await withTableServer(database, schema: schema, tables: [TableOptions(name: "users")]) { client, db in
            try await client.execute(uri: "/tables/users/7", method: .get) { response in
                #expect(response.status == .ok)
                let row = try json(response.body)
                #expect(row["email"] as? String == "rails@example.com")
            }
            #expect(try await storedRows(db, "SELECT version FROM schema_migrations", columns: ["version"]) == [["20240101000000"]])
        }
    }

    /// A database an earlier version migrated keeps its data: the server's tables move from
    /// `public` to their schema at the next start.
    @Test func theTablesOfAnEarlierVersionMoveOutOfPublic() async throws {
        try await withTemporaryDirectory { folder in
            try await withNewDatabase(.postgres, in: folder) { url in
                let old = try await Database.open(url: url, schema: "public", logger: testLogger())
                try await old.withConnection { sql in
                    try await sql.raw(
                        "INSERT INTO users (name, email, email_key, role, version, created_at, updated_at) VALUES ('Ann', 'a@x.io', 'a@x.io', 'member', 1, 'now', 'now')"
                    ).run()
                }
                await old.close()
                let database = try await Database.open(url: url, logger: testLogger())
                let placed = try await storedRows(
                    database,
                    """
                    SELECT (SELECT count(*) FROM multistatus.users) AS users, (to_regclass('public.users') IS NULL)::int AS gone,
                        (SELECT count(*) FROM multistatus.schema_migrations) AS versions
                    """, columns: ["users", "gone", "versions"])
                await database.close()
                #expect(placed == [["1", "1", "4"]])
            }
        }
    }
}

@Suite struct ConfigFileTests {
    @Test func tablesWithTheirOptions() throws {
        let tables = try ConfigFile.tables(
            parsing: """
                [tables.orders]
                key = ["region", "number"]
                version = "version"
                read-only = ["created_at"]
                readers = ["alice"]
                writers = ["bob"]

                [tables.notes]
                """, file: "multistatus.toml")
        #expect(
            tables == [
                TableOptions(name: "notes"),
                TableOptions(
                    name: "orders", key: ["region", "number"], version: "version", readOnly: ["created_at"], readers: ["alice"], writers: ["bob"]),
            ])
    }

    @Test func mistakesAreNamed() {
        for (text, message) in [
            ("[tables.orders]\nkey = 3\n", "tables.orders.key must be an array of names"),
            ("[tables.orders]\ncolour = \"red\"\n", "tables.orders: unknown key \"colour\""),
            ("[server]\n", "unknown section \"server\""),
            ("[tables.orders\n", "multistatus.toml line 1"),
        ] {
            #expect {
                try ConfigFile.tables(parsing: text, file: "multistatus.toml")
            } throws: { error in
                (error as? ConfigurationError)?.description.contains(message) == true
            }
        }
    }
}

@Suite struct TableServeTests {
    @Test func theOpenAPIDocumentDescribesEachServedTable() async throws {
        try await withTableServer(.sqlite) { client, _ in
            let data = try await client.execute(uri: "/openapi.json", method: .get) { Data(buffer: $0.body) }
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: Any])
            let books = try #require(paths["/tables/books"] as? [String: Any])
            #expect(Set(books.keys) == ["get", "post", "patch", "put", "delete"])
            #expect(paths["/tables/events/{key}"] != nil)
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let row = try #require((schemas["Row_books"] as? [String: Any])?["properties"] as? [String: [String: Any]])
            #expect(row["title"]?["type"] as? [String] == ["string"])
            #expect(row["shelf"]?["type"] as? [String] == ["string", "null"])
            #expect(row["stock"]?["readOnly"] as? Bool == true)
            #expect(paths["/users"] != nil)
            // The document with the tables in it is still valid OpenAPI.
            try await withTemporaryDirectory { folder in
                let file = folder + "/openapi.json"
                try data.write(to: URL(fileURLWithPath: file))
                let result = try await runProgram(
                    "/usr/bin/env",
                    ["python3", "-c", "import json, sys, openapi_spec_validator as v; v.validate(json.load(open(sys.argv[1])))", file])
                #expect(result.status == 0, "\(result.errors)")
            }
        }
    }

    @Test func serveReadsTablesFromTheConfigFileAndTheCommandLine() async throws {
        try await withTemporaryDirectory { folder in
            try await withNewDatabase(.sqlite, in: folder) { url in
                let database = try await Database.open(url: url, migrating: false, logger: testLogger())
                for statement in tableTestSchema(.sqlite) {
                    try await database.withConnection { try await $0.raw(SQLQueryString(statement)).run() }
                }
                await database.close()
                let config = folder + "/multistatus.toml"
                try Data("[tables.books]\nversion = \"version\"\nread-only = [\"stock\"]\n".utf8).write(to: URL(fileURLWithPath: config))
                let (process, line) = try await startServeProcess([
                    "--port", "0", "--data-dir", folder + "/data", "--database", url, "--config", config, "--table", "authors",
                ])
                defer { process.terminate() }
                let base = String(try #require(line.split(separator: " ").last))
                let client = HTTPClient.shared
                var request = HTTPClientRequest(url: base + "/tables/books")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"[{"isbn": "b1", "title": "One", "stock": 2}, {"isbn": "b2", "title": "Two"}]"#))
                let response = try await client.execute(request, timeout: .seconds(30))
                #expect(response.status.code == 207)
                let report = try read(try await response.body.collect(upTo: 1 << 20), .json, tableCollection("created", "books"))
                #expect(report.items.map(\.status.code) == [403, 201])
                let authors = try await client.execute(HTTPClientRequest(url: base + "/tables/authors"), timeout: .seconds(30))
                #expect(authors.status.code == 200)
                let events = try await client.execute(HTTPClientRequest(url: base + "/tables/events"), timeout: .seconds(30))
                #expect(events.status.code == 404)
            }
        }
    }

    @Test func aMistakeInTheConfigFileStopsServeWithItsLine() async throws {
        try await withTemporaryDirectory { folder in
            let config = folder + "/multistatus.toml"
            try Data("[tables.books]\nkey = 1\n".utf8).write(to: URL(fileURLWithPath: config))
            let result = try await runCommand(["serve", "--port", "0", "--data-dir", folder + "/data", "--config", config])
            #expect(result.status != 0)
            #expect(result.errors.contains("tables.books.key must be an array of names"))
        }
    }
}
