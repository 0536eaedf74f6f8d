import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusHummingbird
import NIOCore
import Testing

@testable import MultiStatusServer

/// Every request has an id (the client's, or one made for it) in its answer, its problem body and
/// its log lines, and one access line once its answer is sent.
@Suite struct RequestLogTests {
    private func accessLines(_ logs: CapturedLogs) -> [[String: String]] {
        logs.records.withLock { $0.filter { $0.message == "request" }.map(\.metadata) }
    }

    @Test func theClientsIdIsKeptEverywhere() async throws {
        let logs = CapturedLogs()
        try await withAccountsServer([.writer, .reader], logger: logs.logger()) { client, _, _, _ in
            var headers = TestAccount.reader.headers
            headers[.requestID] = "trace-42.a:b"
            // A read account's write: refused inside the stack, answered by the problem middleware.
            let refused = try await client.execute(uri: "/dav/x.txt", method: .put, headers: headers, body: ByteBuffer(string: "x"))
            #expect(refused.status == .forbidden)
            #expect(refused.headers[.requestID] == "trace-42.a:b")
            let problem = try JSONValue.parse(refused.body.readableBytesView).objectMembers
            #expect(problem["requestId"] == "trace-42.a:b")
        }
        let line = try #require(self.accessLines(logs).first { $0["hb.request.id"] == "trace-42.a:b" })
        #expect(line["method"] == "PUT")
        #expect(line["path"] == "/dav/x.txt")
        #expect(line["status"] == "403")
        #expect(line["account"] == TestAccount.reader.name)
    }

    @Test func anImplausibleIdIsReplacedAndAMissingOneMade() async throws {
        let logs = CapturedLogs()
        try await withAccountsServer([.writer], logger: logs.logger()) { client, _, _, _ in
            var forged = TestAccount.writer.headers
            forged[.requestID] = "x\" status=200 y"
            let first = try await client.execute(uri: "/files/", method: .get, headers: forged)
            let made = try #require(first.headers[.requestID])
            #expect(made != "x\" status=200 y")
            #expect(!made.isEmpty && !made.contains(" ") && !made.contains("\""))
            let second = try await client.execute(uri: "/files/", method: .get, headers: TestAccount.writer.headers)
            #expect(second.headers[.requestID] != nil && second.headers[.requestID] != made)
            // Without credentials: a 401, logged with no account.
            let anonymous = try await client.execute(uri: "/files/", method: .get)
            #expect(anonymous.status == .unauthorized)
            let id = try #require(anonymous.headers[.requestID])
            #expect(try JSONValue.parse(anonymous.body.readableBytesView).objectMembers["requestId"]?.stringValue == id)
            #expect(try await eventually { self.accessLines(logs).contains { $0["hb.request.id"] == id } })
            #expect(self.accessLines(logs).first { $0["hb.request.id"] == id }?["account"] == "-")
        }
    }

    /// The access line counts the bytes sent, streamed or not, and names the account.
    @Test func theAccessLineCountsWhatWasSent() async throws {
        let logs = CapturedLogs()
        try await withAccountsServer([.writer], logger: logs.logger()) { client, _, _, _ in
            let headers = TestAccount.writer.headers
            #expect(try await dav(client, .put, "/dav/five.txt", headers: headers, body: "12345").status == .created)
            let got = try await client.execute(uri: "/dav/five.txt", method: .get, headers: headers)
            #expect(String(buffer: got.body) == "12345")
            let id = try #require(got.headers[.requestID])
            #expect(try await eventually { self.accessLines(logs).contains { $0["hb.request.id"] == id } })
            let line = try #require(self.accessLines(logs).first { $0["hb.request.id"] == id })
            #expect(line["method"] == "GET")
            #expect(line["status"] == "200")
            #expect(line["bytes"] == "5")
            #expect(line["account"] == TestAccount.writer.name)
            #expect(Double(line["duration_ms"] ?? "") != nil)
            // One line per request.
            #expect(self.accessLines(logs).filter { $0["hb.request.id"] == id }.count == 1)
        }
    }
}
