import Foundation
import Hummingbird
import HummingbirdTesting
import MultiStatus
import MultiStatusClient
import MultiStatusHummingbird
import Synchronization
import Testing

@Suite struct ClientRetryTests {
    /// A batch endpoint (`PATCH path`, answering a `collection` list) whose odd ids fail with 503
    /// (Retry-After 1) the first time they are seen.
    final class FlakyService: Sendable {
        let requests = Mutex<[[Int]]>([])
        let seen = Mutex<Set<Int>>([])
        let path: String
        let collection: ResourceCollection

        init(path: String = "things", collection: ResourceCollection = .updates) {
            self.path = path
            self.collection = collection
        }

        func run(_ test: @escaping @Sendable (Int) async throws -> Void) async throws {
            let router = Router()
            router.add(middleware: ProblemMiddleware())
            router.patch(RouterPath(self.path)) { request, context -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                guard case .array(let values) = try JSONValue.parse(body.readableBytesView) else { throw ProblemDetails(status: .badRequest) }
                let ids = values.compactMap { $0.objectMembers["id"]?.intValue }
                self.requests.withLock { $0.append(ids) }
                let items = ids.map { id -> ItemResult in
                    let first = self.seen.withLock { $0.insert(id).inserted }
                    if id % 2 == 1 && first {
                        return ItemResult(id: .int(id), problem: ProblemDetails(status: .serviceUnavailable, detail: "busy"), retryAfter: 1)
                    }
                    return ItemResult(id: .int(id), status: .ok)
                }
                return try MultiStatusResponse(try MultiStatusReport(collection: self.collection, items: items)).response(
                    from: request, context: context)
            }
            router.patch("broken") { _, _ -> Response in throw ProblemDetails(status: .badRequest, detail: "no") }
            try await Application(router: router, logger: testLogger()).test(.live) { client in try await test(client.port!) }
        }
    }

    @Test func onlyTheTransientFailuresAreSentAgain() async throws {
        let service = FlakyService()
        try await service.run { port in
            let client = MultiStatusHTTPClient(baseURL: "http://127.0.0.1:\(port)")
            let items: [JSONValue] = (1...4).map { ["id": .int($0), "name": "n"] }
            let result = try await client.sendBatch(.PATCH, "/things", items: items, collection: .updates, maxDelay: .milliseconds(50))
            #expect(result.items.map(\.id) == [1, 2, 3, 4])
            #expect(result.items.map(\.status.code) == [200, 200, 200, 200])
            #expect(service.requests.withLock { $0 } == [[1, 2, 3, 4], [1, 3]])
        }
    }

    @Test func attemptsAreBounded() async throws {
        let service = FlakyService()
        try await service.run { port in
            let client = MultiStatusHTTPClient(baseURL: "http://127.0.0.1:\(port)")
            let result = try await client.sendBatch(.PATCH, "/things", items: [["id": 5]], collection: .updates, maxAttempts: 1)
            #expect(result.items.map(\.status.code) == [503])
            #expect(result.summary == Summary(total: 1, succeeded: 0, failed: 1))
        }
    }

    @Test func aWholeRequestFailureIsThrownWithItsProblem() async throws {
        try await FlakyService().run { port in
            let client = MultiStatusHTTPClient(baseURL: "http://127.0.0.1:\(port)")
            let failure = try await #require(throws: MultiStatusHTTPClient.RequestFailed.self) {
                try await client.sendBatch(.PATCH, "/broken", items: [["id": 1]], collection: .updates)
            }
            #expect(failure.problem.status == .badRequest)
            #expect(failure.problem.detail == "no")
        }
    }
}

/// `MultiStatusHTTPClient.stream`: an NDJSON answer read item by item, over a real socket.
@Suite struct ClientStreamTests {
    @Test func ndjsonItemsArriveWithTheirIndexAndTheSummaryLast() async throws {
        try await withServer { client, _ in
            let http = MultiStatusHTTPClient(baseURL: "http://127.0.0.1:\(client.port!)")
            let body = JSONValue.array((0..<300).map { .object(["op": "delete", "path": .string("missing-\($0).txt")]) }).jsonText
            let items = try await http.stream(.POST, "/file-operations", body: Array(body.utf8), collection: FileOperationTests.collection)
            #expect(items.status == .multiStatus)
            var seen: [Int: ItemResult] = [:]
            for try await (index, item) in items {
                #expect(items.summary == nil, "the summary comes after the last item")
                seen[index] = item
            }
            #expect(seen.keys.sorted() == Array(0..<300))
            #expect(seen[42]?.id == "missing-42.txt" && seen[42]?.status == .notFound)
            #expect(items.summary == Summary(total: 300, succeeded: 0, failed: 300))

            // A whole-request failure is thrown with its problem, not read as items.
            await #expect(throws: MultiStatusHTTPClient.RequestFailed.self) {
                _ = try await http.stream(.POST, "/file-operations", body: Array("{".utf8), collection: FileOperationTests.collection)
            }
        }
    }
}
