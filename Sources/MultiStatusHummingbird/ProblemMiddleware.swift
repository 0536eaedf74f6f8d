public import Hummingbird
import Logging
import MultiStatus
import NIOHTTP1

/// Answers every error with an `application/problem+json` body (RFC 9457).
///
/// Errors that are ``ProblemDetails`` pass through, and any other `ItemFailure` (a storage error
/// that knows its status) answers with its problem, and with `Retry-After` when the failure is
/// transient; Hummingbird's `HTTPError`s (an unknown
/// route, a body over `collectBody(upTo:)`) keep their status; a body whose HTTP framing is
/// broken (a malformed chunk) is a 400 that closes the connection; anything else becomes a 500
/// whose details are logged, not sent.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        /// The problem's body names the request, so that a user's report finds its log lines.
        func respond(_ problem: ProblemDetails, headers: HTTPFields = [:]) -> Response {
            var problem = problem
            problem.extensions["requestId"] = .string(context.id)
            return problem.response(headers: headers)
        }
        do {
            return try await next(request, context)
        } catch let problem as ProblemDetails {
            // A body cut for being too slow (RequestGuardHandler) leaves the connection unusable.
            return respond(problem, headers: problem.status == .requestTimeout ? [.connection: "close"] : [:])
        } catch let failure as any ItemFailure {
            return respond(failure.problem, headers: failure.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
        } catch let error as HTTPError {
            let problem = ProblemDetails(status: error.status, detail: error.body ?? Self.defaultDetail(error.status, request))
            return respond(problem, headers: error.headers)
        } catch let error as any HTTPResponseError {
            let response = try error.response(from: request, context: context)
            if response.headers[.contentType] != nil { return response }
            return respond(ProblemDetails(status: error.status, detail: "\(error)"), headers: response.headers)
        } catch let error as HTTPParserError {
            // The body's framing is broken: nothing more can be read from this connection.
            let problem = ProblemDetails(status: .badRequest, detail: "malformed HTTP body: \(error)", type: "urn:x-multistatus:problem:bad-framing")
            return respond(problem, headers: [.connection: "close"])
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return respond(ProblemDetails(status: .internalServerError, detail: "the server failed to process the request"))
        }
    }

    private static func defaultDetail(_ status: HTTPResponse.Status, _ request: Request) -> String? {
        switch status {
        case .notFound: "no resource at \(request.uri.path)"
        case .methodNotAllowed: "\(request.method) is not allowed on \(request.uri.path)"
        case .contentTooLarge: "the request body is larger than this endpoint accepts"
        default: nil
        }
    }
}
