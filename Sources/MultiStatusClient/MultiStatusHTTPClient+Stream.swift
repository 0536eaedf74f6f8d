public import AsyncHTTPClient
import Foundation
public import MultiStatus
import NIOCore
public import NIOHTTP1
import Synchronization

/// The items of an NDJSON answer (CONTRACT §4) as they arrive, each with its position in the
/// request; the summary, the last line, is ``summary`` once the sequence has ended.
///
/// ```swift
/// let stream = try await client.stream(.PATCH, "/users", body: bytes, collection: .updates)
/// for try await (index, item) in stream where !item.succeeded { print(index, item.status.code) }
/// ```
public final class NDJSONItems: AsyncSequence, Sendable {
    public typealias Element = (index: Int, item: ItemResult)

    private let body: HTTPClientResponse.Body
    private let collection: ResourceCollection
    private let received = Mutex<Summary?>(nil)
    /// The status line of the answer.
    public let status: HTTPResponseStatus

    init(body: HTTPClientResponse.Body, collection: ResourceCollection, status: HTTPResponseStatus) {
        self.body = body
        self.collection = collection
        self.status = status
    }

    /// The summary line, once read (after the last item).
    public var summary: Summary? { self.received.withLock { $0 } }

    public func makeAsyncIterator() -> Iterator {
        Iterator(chunks: self.body.makeAsyncIterator(), owner: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var chunks: HTTPClientResponse.Body.AsyncIterator
        let owner: NDJSONItems
        var pending: [UInt8] = []
        var ended = false
        /// Longest line read: an item is small, and a line without end must not take all memory.
        static let maxLine = 1 << 20

        public mutating func next() async throws -> Element? {
            while true {
                if let newline = self.pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = self.pending[..<newline]
                    defer { self.pending.removeSubrange(...newline) }
                    switch try MultiStatusReader.readNDJSONLine(line, collection: self.owner.collection) {
                    case .item(let item, let index)?:
                        guard self.owner.summary == nil else { throw MultiStatusError.malformedBody("a line follows the summary") }
                        return (index, item)
                    case .summary(let summary)?: self.owner.received.withLock { $0 = summary }
                    case nil: break
                    }
                    continue
                }
                guard !self.ended else {
                    guard self.pending.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == 13 }) else {
                        throw MultiStatusError.malformedBody("the stream ended inside a line")
                    }
                    guard self.owner.summary != nil else { throw MultiStatusError.malformedBody("the stream ended without a summary line") }
                    return nil
                }
                guard let chunk = try await self.chunks.next() else {
                    self.ended = true
                    self.pending.append(UInt8(ascii: "\n"))
                    continue
                }
                self.pending += chunk.readableBytesView
                if self.pending.count > Self.maxLine && !self.pending.contains(UInt8(ascii: "\n")) {
                    throw MultiStatusError.malformedBody("a line is longer than \(Self.maxLine) bytes")
                }
            }
        }
    }
}

extension MultiStatusHTTPClient {
    /// Sends a request asking for NDJSON and returns its items as they arrive.
    /// - Throws: ``RequestFailed`` when the server answered with a single status instead of a list.
    public func stream(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, collection: ResourceCollection, headers: [(String, String)] = []
    ) async throws -> NDJSONItems {
        let response = try await self.execute(
            method, path, body: body.map { .bytes($0) }, accept: MultiStatusFormat.ndjson.contentType, headers: headers)
        let type = response.headers.first(name: "Content-Type") ?? ""
        guard MultiStatusReader.format(contentType: type) == .ndjson else {
            throw RequestFailed(status: response.status, body: try await response.body.collect(upTo: self.maxResponseBytes).readableBytesView)
        }
        return NDJSONItems(body: response.body, collection: collection, status: response.status)
    }
}
