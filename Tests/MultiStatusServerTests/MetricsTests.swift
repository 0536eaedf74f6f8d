import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import NIOCore
import Testing

@testable import MultiStatusServer

/// `GET /metrics`: the Prometheus text of one server, counted from what the test did to it.
@Suite struct MetricsTests {
    /// The value of the sample `name` whose labels include every one of `labels`; `nil` when there is none.
    private func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            guard rest.first == "{" || rest.first == " " else { continue }
            var found: [String: String] = [:]
            if rest.first == "{", let close = rest.firstIndex(of: "}") {
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { found[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
                }
            }
            guard labels.allSatisfy({ found[$0.key] == $0.value }) else { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test func metricsCountWhatTheServerDid() async throws {
        try await withAccountsServer([.writer, .reader]) { client, _, _, _ in
            let writer = TestAccount.writer.headers
            #expect(try await client.execute(uri: "/metrics", method: .get) { $0.status } == .unauthorized)

            // An upload of two files, one refused; a WebDAV PUT; a lock; a status check.
            let upload = MultipartBody([.init(filename: "a.txt", content: file("12345")), .init(filename: "..", content: file("x"))])
            var headers = writer
            headers[.contentType] = upload.contentType
            let uploaded = try await client.execute(uri: "/upload", method: .post, headers: headers, body: upload.buffer) { $0.status }
            #expect(uploaded == .multiStatus)
            #expect(try await dav(client, .put, "/dav/b.txt", headers: writer, body: "0123456789").status == .created)
            let lockinfo =
                #"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#
            #expect(try await dav(client, .lock, "/dav/b.txt", headers: writer, body: lockinfo).status == .ok)
            #expect(try await client.execute(uri: "/check-statuses", method: .get, headers: writer) { $0.status } == .multiStatus)

            let (status, type, text) = try await client.execute(uri: "/metrics", method: .get, headers: TestAccount.reader.headers) {
                ($0.status, $0.headers[.contentType], String(buffer: $0.body))
            }
            #expect(status == .ok)
            #expect(type?.hasPrefix("text/plain; version=0.0.4") == true)
            let put = ["route": "/dav/**", "method": "PUT", "status": "201"]
            #expect(self.sample(text, "multistatus_http_requests_total", put) == 1, "\(text)")
            #expect(self.sample(text, "multistatus_http_request_duration_seconds_count", put) == 1)
            #expect(self.sample(text, "multistatus_http_requests_total", ["route": "/metrics", "status": "401"]) == 1)
            #expect(self.sample(text, "multistatus_items_total", ["endpoint": "POST /upload", "status": "201"]) == 1)
            #expect(self.sample(text, "multistatus_items_total", ["endpoint": "POST /upload", "status": "400"]) == 1)
            #expect(self.sample(text, "multistatus_batch_items_count", ["endpoint": "POST /upload"]) == 1)
            #expect(self.sample(text, "multistatus_batch_items_sum", ["endpoint": "POST /upload"]) == 2)
            #expect(self.sample(text, "multistatus_batch_items_bucket", ["endpoint": "POST /upload", "le": "1.0"]) == 0)
            #expect(self.sample(text, "multistatus_batch_items_bucket", ["endpoint": "POST /upload", "le": "10.0"]) == 1)
            #expect(self.sample(text, "multistatus_uploaded_bytes_total") == 15)
            #expect(self.sample(text, "multistatus_probe_duration_seconds_count", ["source": "Database"]) == 1)
            #expect(self.sample(text, "multistatus_probe_duration_seconds_count", ["source": "Storage"]) == 1)
            #expect((self.sample(text, "multistatus_open_connections") ?? 0) >= 1)
            #expect(self.sample(text, "multistatus_locks_held") == 1)
        }
    }
}
