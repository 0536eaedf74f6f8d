import Foundation
public import Hummingbird
import MultiStatus

/// Refuses request bodies over a byte limit with a 413 problem.
///
/// A declared `Content-Length` over the limit is refused before the body is read; a chunked
/// body is counted as it streams and fails with the same 413 as soon as it crosses the limit.
public struct RequestLimitsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The largest request body accepted, in bytes.
    public let maxBodyBytes: Int

    /// Creates the middleware.
    /// - Parameter maxBodyBytes: the largest request body accepted, in bytes.
    public init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // RFC 9112 section 6.1: a transfer coding the server does not understand is a 501. Only
        // chunked is decoded; gzip or compress would otherwise be stored as they came.
        if let coding = request.headers[.transferEncoding], coding.trimmingCharacters(in: .whitespaces).lowercased() != "chunked" {
            throw ProblemDetails(status: .notImplemented, detail: "transfer coding \"\(coding)\" is not supported; send chunked or a Content-Length")
        }
        let limit = self.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init) {
            guard declared <= limit else { throw Self.tooLarge(limit) }
            // The HTTP decoder reads exactly the declared length: nothing left to count.
            return try await next(request, context)
        }
        var request = request
        request.body = RequestBody(asyncSequence: LimitedBody(base: request.body, limit: limit))
        return try await next(request, context)
    }

    static func tooLarge(_ limit: Int) -> ProblemDetails {
        .overLimit("the request body is larger than \(limit) bytes", limit: limit)
    }

    /// Counts bytes as they stream and fails once the limit is crossed.
    struct LimitedBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let base: RequestBody
        let limit: Int

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: RequestBody.AsyncIterator
            let limit: Int
            var seen = 0

            mutating func next() async throws -> ByteBuffer? {
                guard let buffer = try await self.base.next() else { return nil }
                self.seen += buffer.readableBytes
                if self.seen > self.limit { throw RequestLimitsMiddleware.tooLarge(self.limit) }
                return buffer
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: self.base.makeAsyncIterator(), limit: self.limit)
        }
    }
}
