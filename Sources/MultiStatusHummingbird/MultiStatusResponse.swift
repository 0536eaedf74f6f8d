public import HTTPTypes
public import Hummingbird
public import MultiStatus

/// Answers a request with a multi-status report in the format its `Accept` header asks for.
///
/// JSON by default, RFC 4918 XML for `application/xml` or `text/xml`, NDJSON for
/// `application/x-ndjson`, and a 406 problem when `Accept` names none of them.
/// `?only=failed` leaves the succeeded items out of the list.
///
/// ```swift
/// router.get("check-statuses") { request, context in
///     MultiStatusResponse(try MultiStatusReport(collection: .sources, items: results))
/// }
/// ```
public struct MultiStatusResponse: ResponseGenerator, Sendable {
    /// The report to write.
    public var report: MultiStatusReport
    /// Extra header fields for the response.
    public var headers: HTTPFields

    /// Creates a response for `report`.
    public init(_ report: MultiStatusReport, headers: HTTPFields = [:]) {
        self.report = report
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let options = try MultiStatusRequestOptions(request)
        let body = ByteBuffer(string: self.report.encoded(as: options.format, onlyFailed: options.onlyFailed))
        return Self.response(status: self.report.status, format: options.format, body: body, headers: self.headers)
    }

    /// A multi-status response from a body already encoded in `format` (for callers that cache bodies).
    public static func response(status: HTTPResponse.Status, format: MultiStatusFormat, body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = format.contentType
        headers[.contentLength] = String(body.readableBytes)
        headers[.vary] = "Accept"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

/// What a request asks of a multi-status answer: its format, `?only=failed`, atomic mode.
public struct MultiStatusRequestOptions: Sendable, Hashable {
    /// The body format chosen from `Accept`.
    public var format: MultiStatusFormat
    /// `?only=failed`: list the failed items only.
    public var onlyFailed: Bool
    /// `Prefer: atomic` or `?atomic=true`: all or nothing.
    public var atomic: Bool

    /// Reads the options of `request`.
    /// - Throws: a 406 ``ProblemDetails`` when `Accept` names no format this server writes,
    ///   a 400 one when a flag has a value other than `true`/`false`.
    public init(_ request: Request) throws {
        guard let format = MultiStatusFormat.negotiate(accept: request.headers[values: .accept].joined(separator: ",")) else {
            throw ProblemDetails(
                status: .notAcceptable,
                detail: "Accept names no format this server writes; use application/json, application/xml or application/x-ndjson"
            )
        }
        self.format = format
        switch request.uri.queryParameters["only"] {
        case nil: self.onlyFailed = false
        case "failed": self.onlyFailed = true
        case let other?: throw ProblemDetails(status: .badRequest, detail: "only=\(other) is not supported; the one value is only=failed")
        }
        let preferAtomic = request.headers[values: .prefer].contains { value in
            value.split(separator: ",").contains { $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "atomic" }
        }
        self.atomic = try request.booleanQuery("atomic") == true || preferAtomic
    }
}

extension HTTPField.Name {
    /// `Prefer` (RFC 7240).
    public static var prefer: Self { Self("Prefer")! }
}
