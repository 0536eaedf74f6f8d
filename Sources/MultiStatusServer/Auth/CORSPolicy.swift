import HTTPTypes
import Hummingbird

/// Cross-origin access for the pages of chosen origins (`--cors-origin`), through Hummingbird's
/// `CORSMiddleware`: preflights are answered before any credential is asked for, the WebDAV and
/// batch methods and their headers are allowed, and the headers clients need are exposed.
///
/// A request from any other origin passes on without CORS headers, so a browser keeps its page
/// from reading the answer.
struct CORSPolicy<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    private let cors: CORSMiddleware<Context>

    /// Request headers a page may send.
    static var allowedHeaders: [HTTPField.Name] {
        [
            .authorization, .depth, .destination, .overwrite, .davIf, .lockToken, .timeout, .prefer, .idempotencyKey, .contentType, .accept,
        ]
    }

    /// Response headers a page may read.
    static var exposedHeaders: [HTTPField.Name] { [.dav, .eTag, .lockToken, .location, .retryAfter] }

    /// - Parameters:
    ///   - origins: the origins allowed, as browsers send them (`https://app.example`).
    ///   - methods: the methods allowed.
    init(origins: [String], methods: [HTTPRequest.Method]) {
        self.origins = Set(origins)
        self.cors = CORSMiddleware(
            allowOrigin: .originBased,
            allowHeaders: Self.allowedHeaders,
            allowMethods: methods,
            allowCredentials: true,
            exposedHeaders: Self.exposedHeaders.map(\.rawName),
            maxAge: .seconds(600)
        )
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], self.origins.contains(origin) else { return try await next(request, context) }
        let preflight = request.method == .options && request.headers[.accessControlRequestMethod] != nil
        var response: Response
        if preflight || request.method != .options {
            response = try await self.cors.handle(request, context: context, next: next)
        } else {
            // A page's own OPTIONS (WebDAV's), not a preflight: the server answers it.
            response = try await next(request, context)
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlAllowCredentials] = "true"
            response.headers[values: .vary].append("Origin")
        }
        // Browsers read exposed headers from the answer itself; CORSMiddleware sends them on preflights only.
        if !preflight { response.headers[.accessControlExposeHeaders] = Self.exposedHeaders.map(\.rawName).joined(separator: ", ") }
        return response
    }
}
