import HTTPTypes
import MultiStatus
public import NIOCore
import NIOHTTP1
public import NIOHTTPTypes
import Synchronization

/// Guards each HTTP/1 request on its way in, sitting right after the HTTP decoder
/// (`HTTP1Channel.Configuration.additionalChannelHandlers`):
///
/// - A head the decoder refuses is answered here, since no request reaches the app: 431 with a
///   problem body when it is over the decoder's limits on header fields (`headerOverflow`), 400
///   for any other malformed head. The connection is then closed.
/// - A body that stalls or trickles fails with a 408 ``ProblemDetails``, which the request's body
///   stream throws and the app answers. Over each `window`, while the server was waiting to read
///   (time the server itself is not reading, because it is busy, does not count), the client must
///   have sent at least `minimumBytesPerSecond` on average; nothing at all for a window is cut too.
public final class RequestGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let window: TimeAmount
    private let minimumBytesPerSecond: Int
    /// The limits the decoder was given, for the 431's detail.
    private let headerFields: Int
    private let headerBytes: Int

    private var inBody = false
    private var cut = false
    private var windowBytes = 0
    /// Time in this window during which a read was asked for and nothing had come yet.
    private var waited: TimeAmount = .zero
    private var readAskedAt: NIODeadline?
    private var check: Scheduled<Void>?

    /// - Parameters:
    ///   - window: the time over which a body's rate is measured; a body idle that long is cut.
    ///   - minimumBytesPerSecond: the slowest average rate a body may arrive at.
    ///   - headerFields: the decoder's limit on header fields, named in the 431.
    ///   - headerBytes: the decoder's limit on header bytes, named in the 431.
    public init(window: TimeAmount, minimumBytesPerSecond: Int, headerFields: Int, headerBytes: Int) {
        self.window = window
        self.minimumBytesPerSecond = minimumBytesPerSecond
        self.headerFields = headerFields
        self.headerBytes = headerBytes
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let asked = self.readAskedAt {
            self.waited = self.waited + (NIODeadline.now() - asked)
            self.readAskedAt = nil
        }
        guard !self.cut else { return }
        switch self.unwrapInboundIn(data) {
        case .head:
            self.inBody = true
            self.windowBytes = 0
            self.waited = .zero
            self.scheduleCheck(context)
        case .body(let buffer):
            self.windowBytes += buffer.readableBytes
        case .end:
            self.inBody = false
            self.check?.cancel()
            self.check = nil
        }
        context.fireChannelRead(data)
    }

    public func read(context: ChannelHandlerContext) {
        if self.readAskedAt == nil { self.readAskedAt = .now() }
        context.read()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.inBody, let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let problem =
            parserError == .headerOverflow
            ? ProblemDetails(
                status: .requestHeaderFieldsTooLarge,
                detail: "the request's header fields are over the limits: \(self.headerFields) fields, \(self.headerBytes) bytes",
                extensions: ["limit": .int(self.headerBytes)])
            : ProblemDetails(
                status: .badRequest, detail: "malformed HTTP request head: \(parserError)", type: "urn:x-multistatus:problem:bad-framing")
        self.cut = true
        let body = ByteBuffer(string: problem.jsonText)
        let head = HTTPResponse(
            status: problem.status,
            headerFields: [.contentType: "application/problem+json", .contentLength: String(body.readableBytes), .connection: "close"])
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.check?.cancel()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.check?.cancel()
        context.fireChannelInactive()
    }

    private func scheduleCheck(_ context: ChannelHandlerContext) {
        self.check?.cancel()
        self.check = context.eventLoop.assumeIsolated().scheduleTask(in: self.window) { [self] in self.measure(context) }
    }

    /// Ends one window: cuts the body when the client, given the time, sent too little.
    private func measure(_ context: ChannelHandlerContext) {
        guard self.inBody, !self.cut else { return }
        var waited = self.waited
        if let asked = self.readAskedAt {
            let now = NIODeadline.now()
            waited = waited + (now - asked)
            self.readAskedAt = now
        }
        let seconds = Double(waited.nanoseconds) / 1e9
        let slow =
            waited.nanoseconds * 2 >= self.window.nanoseconds
            && (self.windowBytes == 0 || Double(self.windowBytes) / seconds < Double(self.minimumBytesPerSecond))
        guard slow else {
            self.windowBytes = 0
            self.waited = .zero
            self.scheduleCheck(context)
            return
        }
        self.cut = true
        self.inBody = false
        let detail =
            self.windowBytes == 0
            ? "the request body sent nothing for \(Self.format(seconds)) s"
            : "the request body came at \(self.windowBytes) bytes in \(Self.format(seconds)) s, under \(self.minimumBytesPerSecond) bytes a second"
        context.fireErrorCaught(ProblemDetails(status: .requestTimeout, detail: detail))
    }

    private static func format(_ seconds: Double) -> String {
        String(Double((seconds * 10).rounded()) / 10)
    }
}

/// Counts a server's open connections; those over the cap are turned away by ``ConnectionGateHandler``.
public final class ConnectionGate: Sendable {
    /// Most connections open at once.
    public let cap: Int
    private let open = Atomic<Int>(0)

    /// - Parameter cap: most connections open at once.
    public init(cap: Int) {
        self.cap = cap
    }

    /// Connections open now, the refused ones not counted.
    public var count: Int { self.open.load(ordering: .relaxed) }

    func enter() -> Bool {
        let now = self.open.add(1, ordering: .relaxed).newValue
        guard now > self.cap else { return true }
        self.open.subtract(1, ordering: .relaxed)
        return false
    }

    func leave() {
        self.open.subtract(1, ordering: .relaxed)
    }
}

/// The first handler of a connection: counts it in a ``ConnectionGate`` and, over the cap, answers
/// `503` with `Retry-After` (plain HTTP) or closes at once (TLS, where no HTTP can be written before
/// the handshake), reading nothing of the request.
public final class ConnectionGateHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private let gate: ConnectionGate
    private let plainHTTP: Bool
    private var admitted: Bool?

    /// - Parameter plainHTTP: whether the connection speaks HTTP without TLS, so that a 503 can be written.
    public init(gate: ConnectionGate, plainHTTP: Bool) {
        self.gate = gate
        self.plainHTTP = plainHTTP
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.admitted = self.gate.enter()
        if context.channel.isActive { self.refuseIfOver(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.refuseIfOver(context)
        if self.admitted == true { context.fireChannelActive() }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.admitted == true else { return }
        context.fireChannelRead(data)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.release()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.release()
    }

    private func release() {
        if self.admitted == true { self.gate.leave() }
        self.admitted = nil
    }

    private var refused = false

    private func refuseIfOver(_ context: ChannelHandlerContext) {
        guard self.admitted == false, !self.refused else { return }
        self.refused = true
        guard self.plainHTTP else {
            context.close(promise: nil)
            return
        }
        let problem = ProblemDetails(
            status: .serviceUnavailable, detail: "the server has \(self.gate.cap) connections open, its most; try again shortly",
            extensions: ["limit": .int(self.gate.cap)])
        let body = problem.jsonText
        let text =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/problem+json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        // Half-closed after the answer, then closed: a close with the request unread would reset the
        // connection and could discard the answer before the client reads it.
        context.writeAndFlush(NIOAny(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
        }
    }
}
