import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import Testing

/// The modes every batch endpoint shares through one responder, tested once for each: atomic
/// (`Prefer: atomic`), `Idempotency-Key`, `?only=failed` and NDJSON. Each endpoint's batch has
/// three items, the second failing in the endpoint's own way.
@Suite struct BatchModesTests {
    struct Endpoint: Sendable, CustomTestStringConvertible {
        let name: String
        let method: HTTPRequest.Method
        let path: String
        let collection: ResourceCollection
        let contentType: String
        /// The batch: items 0 and 2 succeed, item 1 fails with `failure`.
        let body: @Sendable (_ round: Int) -> ByteBuffer
        let failure: HTTPResponse.Status
        /// Prepares the server; runs before every request of the test.
        let seed: @Sendable (any TestClientProtocol) async throws -> Void
        /// Which of items 0 and 2 of round `round` are applied, as the server answers reads.
        let applied: @Sendable (any TestClientProtocol, _ round: Int) async throws -> [Bool]

        var testDescription: String { self.name }
    }

    static let upload = MultipartBody([])
    static let endpoints: [Endpoint] = [
        Endpoint(
            name: "PATCH /users", method: .patch, path: "/users", collection: .updates, contentType: "application/json",
            body: { round in ByteBuffer(string: #"[{"id": 1, "name": "a\#(round)"}, {"id": 2, "role": "owner"}, {"id": 3, "name": "c\#(round)"}]"#) },
            failure: .unprocessableContent,
            seed: { client in
                let users = (1...3).map { #"{"name": "u\#($0)", "email": "u\#($0)@example.com"}"# }.joined(separator: ",")
                _ = try await sendBatch(
                    client, .post, "/users", "[\(users)]",
                    collection: ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/"))
            },
            applied: { client, round in
                try await client.execute(uri: "/users?ids=1,3", method: .get) { response in
                    let read = try read(response.body, .json, ResourceCollection(key: "users", identifierKey: "id", hrefPrefix: "/users/"))
                    return zip(read.items, ["a\(round)", "c\(round)"]).map { $0.fields["name"]?.stringValue == $1 }
                }
            }),
        Endpoint(
            name: "POST /tables/books", method: .post, path: "/tables/books", collection: tableCollection("created", "books"),
            contentType: "application/json",
            body: { round in
                ByteBuffer(
                    string: #"[{"isbn": "a\#(round)", "title": "A"}, {"isbn": "b\#(round)", "title": 5}, {"isbn": "c\#(round)", "title": "C"}]"#)
            },
            failure: .badRequest, seed: { _ in },
            applied: { client, round in
                try await client.execute(uri: "/tables/books?keys=a\(round),c\(round)", method: .get) { response in
                    try read(response.body, .json, tableCollection("rows", "books")).items.map(\.succeeded)
                }
            }),
        Endpoint(
            name: "POST /upload", method: .post, path: "/upload", collection: .files, contentType: Self.upload.contentType,
            body: { round in
                var body = Self.upload
                body.parts = [
                    .init(filename: "a\(round).txt", content: file("a")), .init(filename: "sub\\b\(round).txt", content: file("b")),
                    .init(filename: "c\(round).txt", content: file("c")),
                ]
                return body.buffer
            },
            failure: .badRequest, seed: { _ in },
            applied: { client, round in
                var found: [Bool] = []
                for name in ["a\(round).txt", "c\(round).txt"] {
                    found.append(try await client.execute(uri: "/files/\(name)", method: .get) { $0.status == .ok })
                }
                return found
            }),
    ]

    private func send(
        _ client: some TestClientProtocol, _ endpoint: Endpoint, round: Int, query: String = "", headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var all = headers
        all[.contentType] = endpoint.contentType
        return try await client.execute(uri: endpoint.path + query, method: endpoint.method, headers: all, body: endpoint.body(round)) { $0 }
    }

    private func withEndpoint(
        _ endpoint: Endpoint, _ database: TestDatabase, _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    )
        async throws
    {
        try await withTableServer(database) { client, _ in
            try await endpoint.seed(client)
            try await test(client)
        }
    }

    @Test(arguments: Self.endpoints, TestDatabase.allCases)
    func atomicAppliesNothingWhenOneItemFails(endpoint: Endpoint, database: TestDatabase) async throws {
        try await self.withEndpoint(endpoint, database) { client in
            let atomic = try await self.send(client, endpoint, round: 1, headers: [.prefer: "atomic"])
            #expect(atomic.status == endpoint.failure)
            let report = try read(atomic.body, .json, endpoint.collection)
            #expect(report.items.map(\.status.code) == [424, endpoint.failure.code, 424])
            #expect(report.summary == Summary(total: 3, succeeded: 0, failed: 3))
            #expect(try await endpoint.applied(client, 1) == [false, false])

            let partial = try await self.send(client, endpoint, round: 2)
            #expect(partial.status == .multiStatus)
            #expect(try read(partial.body, .json, endpoint.collection).items.map(\.status.code).map { $0 < 300 } == [true, false, true])
            #expect(try await endpoint.applied(client, 2) == [true, true])
        }
    }

    @Test(arguments: Self.endpoints, TestDatabase.allCases)
    func anIdempotencyKeyReplaysWithoutApplyingTwice(endpoint: Endpoint, database: TestDatabase) async throws {
        try await self.withEndpoint(endpoint, database) { client in
            let key: HTTPFields = [.init("Idempotency-Key")!: "k-\(endpoint.name.hashValue)"]
            let first = try await self.send(client, endpoint, round: 3, headers: key)
            #expect(first.status == .multiStatus)
            #expect(try await endpoint.applied(client, 3) == [true, true])
            // Applying it again would be refused (existing files, keys) or change versions: the replay applies nothing.
            let again = try await self.send(client, endpoint, round: 3, headers: key)
            #expect(again.headers[.init("Idempotency-Replayed")!] == "true")
            #expect(String(buffer: again.body) == String(buffer: first.body))
            let other = try await self.send(client, endpoint, round: 4, headers: key)
            #expect(other.status == .unprocessableContent)
            #expect(try await endpoint.applied(client, 4) == [false, false])
        }
    }

    @Test(arguments: Self.endpoints, TestDatabase.allCases)
    func onlyFailedAndNDJSON(endpoint: Endpoint, database: TestDatabase) async throws {
        try await self.withEndpoint(endpoint, database) { client in
            let onlyFailed = try await self.send(client, endpoint, round: 5, query: "?only=failed")
            let report = try read(onlyFailed.body, .json, endpoint.collection)
            #expect(report.items.map(\.status.code) == [endpoint.failure.code])
            #expect(report.summary == Summary(total: 3, succeeded: 2, failed: 1))

            let ndjson = try await self.send(client, endpoint, round: 6, headers: [.accept: "application/x-ndjson"])
            #expect(ndjson.headers[.contentType] == "application/x-ndjson")
            let lines = String(buffer: ndjson.body).split(separator: "\n")
            #expect(lines.count == 4)
            let indices = try lines.dropLast().map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["index"] as? Int
            }
            #expect(indices == [0, 1, 2])
        }
    }
}
