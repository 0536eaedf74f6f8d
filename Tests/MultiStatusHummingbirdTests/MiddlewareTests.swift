import Foundation
import Hummingbird
import HummingbirdTesting
import MultiStatus
import MultiStatusHummingbird
import NIOCore
import NIOPosix
import Testing

/// The module's middleware and responses, each through a real socket.
@Suite struct MiddlewareTests {
    private func app(maxBodyBytes: Int = 16) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: RequestLimitsMiddleware(maxBodyBytes: maxBodyBytes))
        router.get("problem") { _, _ -> Response in throw ProblemDetails(status: .conflict, detail: "taken") }
        router.get("secret") { _, _ -> Response in throw CocoaError(.fileReadNoPermission, userInfo: ["path": "/etc/shadow"]) }
        router.post("echo") { request, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: try await request.body.collect(upTo: .max)))
        }
        router.post("report") { request, context in
            let items = [ItemResult(id: "a", status: .created), ItemResult(id: "b", status: .conflict)]
            let options = try MultiStatusRequestOptions(request)
            let report =
                options.atomic
                ? try MultiStatusReport.atomic(collection: .files, items: items) : try MultiStatusReport(collection: .files, items: items)
            return try MultiStatusResponse(report).response(from: request, context: context)
        }
        return Application(router: router)
    }

    private func problem(_ body: ByteBuffer) throws -> [String: JSONValue] {
        try JSONValue.parse(body.readableBytesView).objectMembers
    }

    @Test func problemsKeepTheirStatusAndOtherErrorsSayNothing() async throws {
        try await self.app().test(.live) { client in
            try await client.execute(uri: "/problem", method: .get) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentType] == "application/problem+json")
                let detail = try self.problem(response.body)["detail"]
                #expect(detail == "taken")
            }
            try await client.execute(uri: "/secret", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(!String(buffer: response.body).contains("shadow"))
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                let detail = try self.problem(response.body)["detail"]
                #expect(detail == "no resource at /nowhere")
            }
        }
    }

    @Test func bodiesOverTheLimitAre413DeclaredOrStreamed() async throws {
        try await self.app(maxBodyBytes: 16).test(.live) { client in
            try await client.execute(uri: "/echo", method: .post, body: ByteBuffer(string: "small")) { #expect(String(buffer: $0.body) == "small") }
            try await client.execute(uri: "/echo", method: .post, body: ByteBuffer(repeating: 0x61, count: 17)) { response in
                #expect(response.status == .contentTooLarge)
                let status = try self.problem(response.body)["status"]
                #expect(status == 413)
            }
            // Chunked, with no length declared: counted as it streams.
            let chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n"
            #expect(try await rawStatus(client.port!, chunked) == 413)
            let gzip = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
            #expect(try await rawStatus(client.port!, gzip) == 501)
            let malformed = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            #expect(try await rawStatus(client.port!, malformed) == 400)
        }
    }

    @Test func reportsFollowAcceptAndPreferAtomic() async throws {
        try await self.app(maxBodyBytes: 1 << 20).test(.live) { client in
            try await client.execute(uri: "/report", method: .post, headers: [.accept: "application/xml"]) { response in
                #expect(response.status == .multiStatus)
                #expect(response.headers[.contentType]?.hasPrefix("application/xml") == true)
                #expect(response.headers[.vary] == "Accept")
                let report = try MultiStatusReader.read(Array(buffer: response.body), format: .xml, collection: .files)
                #expect(report.items.map(\.status.code) == [201, 409])
            }
            try await client.execute(uri: "/report", method: .post, headers: [.prefer: "respond-async, atomic"]) { response in
                #expect(response.status == .conflict)
                let report = try MultiStatusReader.read(Array(buffer: response.body), format: .json, collection: .files)
                #expect(report.items.map(\.status.code) == [424, 409])
            }
            try await client.execute(uri: "/report", method: .post, headers: [.accept: "image/png"]) { #expect($0.status == .notAcceptable) }
            try await client.execute(uri: "/report?only=some", method: .post) { #expect($0.status == .badRequest) }
        }
    }
}

/// Sends raw bytes on a new connection and returns the status code of the answer.
private func rawStatus(_ port: Int, _ request: String) async throws -> Int {
    let reader = StatusLineReader()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { $0.pipeline.addHandler(reader) }
        .connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: request))
    let status = try await reader.status.futureResult.get()
    try? await channel.close()
    return status
}

/// Completes with the status code of the first response line.
private final class StatusLineReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let status = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Int.self)
    private var received = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received += String(buffer: self.unwrapInboundIn(data))
        if self.received.contains("\r\n"), let line = self.received.split(separator: "\r\n").first {
            self.status.succeed(line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0)
        }
    }

    func channelInactive(context: ChannelHandlerContext) { self.status.fail(ChannelError.eof) }
}
