import HTTPTypes
import Hummingbird
import MultiStatus
import NIOCore

/// A WebDAV precondition failure: a status and the RFC 4918 `<D:error>` element that names it.
struct DAVError: HTTPResponseError, CustomStringConvertible {
    let status: HTTPResponse.Status
    /// The precondition element, e.g. `<D:lock-token-submitted>…</D:lock-token-submitted>`.
    let condition: String
    let detail: String

    var description: String { self.detail }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = ByteBuffer(string: MultiStatusEncoder.errorDocument(self.condition))
        return Response(
            status: self.status,
            headers: [.contentType: MultiStatusFormat.xml.contentType, .contentLength: String(body.readableBytes)],
            body: .init(byteBuffer: body)
        )
    }
}
