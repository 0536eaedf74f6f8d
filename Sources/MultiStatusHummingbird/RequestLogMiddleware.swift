import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// A context that can say, once the request is done, which account it came from.
public protocol AccountNamingRequestContext: RequestContext {
    /// The account's name, once authenticated, whichever copy of the context it was set on.
    var accountName: String? { get }
}

/// Gives each request an id and logs one line when its answer has been sent.
///
/// The id is the client's `X-Request-Id` when it sends a plausible one (1–128 visible ASCII
/// characters), else the one Hummingbird made. It is in every log line of the request (the
/// logger's `hb.request.id`), in the answer's `X-Request-Id`, and in problem bodies (see
/// ``ProblemMiddleware``). The access line, at `info`, carries method, path, status, bytes sent,
/// duration and account; `onAnswered` is told the same, for metrics.
public struct RequestLogMiddleware<Context: AccountNamingRequestContext>: RouterMiddleware {
    /// What is known of a request once its answer has been sent.
    public struct Answered: Sendable {
        /// The method.
        public var method: HTTPRequest.Method
        /// The router's pattern that matched (`/dav/**`), or `nil` when none did.
        public var route: String?
        /// The status sent.
        public var status: Int
        /// From the request's arrival to the last byte of the answer.
        public var duration: Duration
    }

    private let onAnswered: (@Sendable (Answered) -> Void)?

    /// Creates the middleware; add it before every other.
    /// - Parameter onAnswered: told of each request once its answer is sent.
    public init(onAnswered: (@Sendable (Answered) -> Void)? = nil) {
        self.onAnswered = onAnswered
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        if let id = request.headers[.requestID], Self.isPlausible(id) {
            context.logger[metadataKey: "hb.request.id"] = .string(id)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Errors are answered by the problem middleware inside; one that escapes it is logged as a 500.
            self.log(request, status: 500, bytes: 0, since: start, context: context)
            throw error
        }
        response.headers[.requestID] = context.id
        let logged = context
        let status = response.status.code
        let sent = NIOLockedValueBox(0)
        let counted = response.body.map { buffer in
            sent.withLockedValue { $0 += buffer.readableBytes }
            return buffer
        }
        response.body = ResponseBody(contentLength: response.body.contentLength) { writer in
            defer { self.log(request, status: status, bytes: sent.withLockedValue { $0 }, since: start, context: logged) }
            try await counted.write(writer)
        }
        return response
    }

    private func log(_ request: Request, status: Int, bytes: Int, since start: ContinuousClock.Instant, context: Context) {
        let elapsed = ContinuousClock.now - start
        self.onAnswered?(Answered(method: request.method, route: context.endpointPath, status: status, duration: elapsed))
        let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "status": .stringConvertible(status),
                "bytes": .stringConvertible(bytes),
                "duration_ms": .string(String(format: "%.3f", milliseconds)),
                "account": .string(context.accountName ?? "-"),
            ]
        )
    }

    /// 1–128 visible ASCII characters: anything else (spaces, quotes, control characters) could forge log lines.
    static func isPlausible(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") }
    }
}

extension HTTPField.Name {
    /// `X-Request-Id`.
    public static var requestID: Self { Self("X-Request-Id")! }
}
