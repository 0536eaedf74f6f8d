import HTTPTypes
public import NIOCore
public import NIOHTTPTypes

/// Answers `Expect: 100-continue` with an interim `100 Continue`, so that clients that wait for it
/// (curl for any large upload, Finder, .NET) send their body at once instead of after a timeout.
///
/// A request whose `Content-Length` is already over the body limit gets no `100`: its final
/// `413` comes without the body being sent. Where credentials are required, neither does a
/// request without `Authorization`: its `401` comes first.
public final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let maxBodyBytes: Int
    private let requiresAuthorization: Bool

    /// Creates the handler.
    /// - Parameters:
    ///   - maxBodyBytes: the largest body the server accepts.
    ///   - requiresAuthorization: true when every request needs credentials.
    public init(maxBodyBytes: Int, requiresAuthorization: Bool = false) {
        self.maxBodyBytes = maxBodyBytes
        self.requiresAuthorization = requiresAuthorization
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = self.unwrapInboundIn(data),
            request.headerFields[.expect]?.lowercased() == "100-continue",
            (request.headerFields[.contentLength].flatMap(Int.init) ?? 0) <= self.maxBodyBytes,
            !self.requiresAuthorization || request.headerFields[.authorization] != nil
        {
            context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
