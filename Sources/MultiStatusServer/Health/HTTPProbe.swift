import AsyncHTTPClient
import NIOCore

/// Probes an upstream with an HTTP GET: 2xx and 3xx count as up.
struct HTTPProbe: HealthProbe {
    let name: String
    let url: String
    let isRequired: Bool
    let client: HTTPClient
    let componentType = "component"

    func check(timeout: Duration) async throws -> String {
        var request = HTTPClientRequest(url: self.url)
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await self.client.execute(request, timeout: TimeAmount(timeout))
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw self.timedOut(timeout)
        } catch {
            throw self.down("\(error)")
        }
        // Drain at most a little of the body so the connection can be reused.
        _ = try? await response.body.collect(upTo: 64 << 10)
        guard (200..<400).contains(Int(response.status.code)) else {
            throw self.down("upstream answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        return "Active"
    }
}
