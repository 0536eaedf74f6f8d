public import HTTPTypes
public import NIOHTTPTypes
public import NIOCore

/// Answers `Expect: 100-continue` with an interim `100 Continue`, so that clients that wait for it
/// (curl for any large upload, Finder, .NET) send their body at once instead of after a timeout.
///
/// A request whose `Content-Length` is already over the body limit gets no `100`: its final
/// `413` comes without the body being sent.
public final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let maxBodyBytes: Int

    /// Creates the handler.
    /// - Parameter maxBodyBytes: the largest body the server accepts.
    public init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = self.unwrapInboundIn(data),
            request.headerFields[.expect]?.lowercased() == "100-continue",
            (request.headerFields[.contentLength].flatMap(Int.init) ?? 0) <= self.maxBodyBytes
        {
            context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
