public import Hummingbird
public import MultiStatus

extension ProblemDetails: ResponseGenerator, HTTPResponseError {
    /// The problem as an `application/problem+json` response with its status.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        self.response()
    }

    /// The problem as an `application/problem+json` response with its status.
    /// - Parameter headers: extra header fields (`Allow`, `Retry-After` …).
    public func response(headers: HTTPFields = [:]) -> Response {
        let buffer = ByteBuffer(string: self.jsonText)
        var fields = headers
        fields[.contentType] = ProblemDetails.mediaType
        fields[.contentLength] = String(buffer.readableBytes)
        return Response(status: self.status, headers: fields, body: .init(byteBuffer: buffer))
    }
}
