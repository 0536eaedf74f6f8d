import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import Testing

@Suite struct StatusCheckTests {
    @Test func seedExchange() async throws {
        try await withServer { client, configuration in
            try await client.execute(uri: "/check-statuses", method: .get) { response in
                #expect(response.status == .multiStatus)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let body = try json(response.body)
                let sources = try #require(body["sources"] as? [[String: Any]])
                #expect(sources.map { $0["source"] as? String } == ["Database", "Storage"])
                for source in sources {
                    #expect(source["status"] as? Int == 200)
                    #expect(source["message"] as? String == "Active")
                    #expect(source["latencyMs"] is Int)
                    #expect((source["checkedAt"] as? String)?.hasSuffix("Z") == true)
                }
                #expect(body["summary"] as? [String: Int] == ["total": 2, "succeeded": 2, "failed": 0])
            }
            // The storage probe leaves nothing behind in the data folder.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory).filter { $0.hasPrefix(".probe") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func aDownSourceIs503WhileTheOthersStay200() async throws {
        let tcpPort = try await closedPort()
        let httpPort = try await closedPort()
        try await withServer { configuration in
            configuration.checks = [
                StatusCheckTarget(name: "Cache", endpoint: .tcp(host: "127.0.0.1", port: tcpPort)),
                StatusCheckTarget(name: "Search API", endpoint: .http("http://127.0.0.1:\(httpPort)/health")),
            ]
        } _: { client, _ in
            try await client.execute(uri: "/check-statuses", method: .get) { response in
                #expect(response.status == .multiStatus)
                let body = try read(response.body)
                #expect(body.items.map(\.id) == ["Database", "Storage", "Cache", "Search API"])
                #expect(body.items.map(\.status.code) == [200, 200, 503, 503])
                #expect(body.items[2].message == "Unavailable")
                #expect(body.items[2].problem?.detail?.contains("127.0.0.1:\(tcpPort)") == true)
                #expect(body.items[2].retryAfter == 1)
                #expect(body.summary == Summary(total: 4, succeeded: 2, failed: 2))
            }
        }
    }

    @Test func upstreamAnswering500IsDown() async throws {
        try await Upstream().run { port in
            try await withServer {
                $0.checks = [StatusCheckTarget(name: "Billing", endpoint: .http("http://127.0.0.1:\(port)/fail"))]
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    let billing = try read(response.body).items[2]
                    #expect(billing.status == .serviceUnavailable)
                    #expect(billing.problem?.detail?.contains("500") == true)
                }
            }
        }
    }

    @Test func upAndReachableUpstreamsAre200() async throws {
        try await Upstream().run { port in
            let listener = try await ServerSocket.listen()
            defer { listener.close() }
            try await withServer {
                $0.checks = [
                    StatusCheckTarget(name: "Billing", endpoint: .http("http://127.0.0.1:\(port)/ok")),
                    StatusCheckTarget(name: "Cache", endpoint: .tcp(host: "127.0.0.1", port: listener.port)),
                ]
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    let parsed = try read(response.body)
                    #expect(parsed.items.map(\.status.code) == [200, 200, 200, 200])
                }
            }
        }
    }

    @Test func aSlowSourceIs504AndTheAnswerComesAtTheTimeout() async throws {
        // Held far longer than the timeout, so that even a loaded machine answers in between; let go after.
        let upstream = Upstream(delay: .seconds(60))
        defer { upstream.release() }
        try await upstream.run { port in
            try await withServer {
                $0.limits.probeTimeoutMs = 500
                $0.checks = [StatusCheckTarget(name: "Slow", endpoint: .http("http://127.0.0.1:\(port)/slow"))]
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    // Judged by the order of events, not by a clock: the answer is here while the
                    // upstream still holds the request.
                    #expect(upstream.answered.withLock { $0 } == 0, "the answer waited for the slow upstream")
                    let slow = try read(response.body).items[2]
                    #expect(slow.status == .gatewayTimeout)
                    #expect(slow.message == "Timed out")
                    #expect(slow.fields["latencyMs"]?.intValue.map { $0 >= 500 } == true)
                }
            }
        }
    }

    @Test func threeSlowSourcesTakeOneTimeoutNotThree() async throws {
        let upstream = Upstream(delay: .seconds(60))
        defer { upstream.release() }
        try await upstream.run { port in
            try await withServer {
                $0.limits.probeTimeoutMs = 1_000
                $0.checks = (1...3).map { StatusCheckTarget(name: "Slow\($0)", endpoint: .http("http://127.0.0.1:\(port)/slow")) }
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    #expect(upstream.answered.withLock { $0 } == 0, "the answer waited for the slow upstream")
                    let slow = try read(response.body).items.dropFirst(2)
                    #expect(slow.map(\.status.code) == [504, 504, 504])
                    #expect(slow.allSatisfy { ($0.fields["latencyMs"]?.intValue ?? 0) >= 1_000 })
                }
            }
        }
    }

    /// The upstream answers only once all three probes wait on it together: probes run one after
    /// another would each time out waiting for the next.
    @Test func probesOfSeveralSourcesRunConcurrently() async throws {
        let upstream = Upstream(gateSize: 3)
        try await upstream.run { port in
            try await withServer {
                $0.limits.probeTimeoutMs = 10_000
                $0.checks = (1...3).map { StatusCheckTarget(name: "Gated\($0)", endpoint: .http("http://127.0.0.1:\(port)/gate")) }
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get) { response in
                    let gated = try read(response.body).items.dropFirst(2)
                    #expect(gated.map(\.status.code) == [200, 200, 200])
                    #expect(upstream.atGate.withLock { $0 } == 3)
                }
            }
        }
    }

    @Test func hundredConcurrentCallersCauseOneProbeRun() async throws {
        let upstream = Upstream(delay: .milliseconds(300))
        try await upstream.run { port in
            try await withServer {
                $0.limits.statusCacheMs = 60_000
                $0.checks = [StatusCheckTarget(name: "Counted", endpoint: .http("http://127.0.0.1:\(port)/counted"))]
            } _: { client, _ in
                let base = "http://127.0.0.1:\(client.port!)"
                let checkedAts = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            let response = try await HTTPClient.shared.execute(
                                HTTPClientRequest(url: base + "/check-statuses"), timeout: .seconds(30))
                            #expect(response.status.code == 207)
                            let bytes = try await response.body.collect(upTo: 1 << 20)
                            let body = try read(bytes)
                            #expect(body.items[2].status == .ok)
                            return body.items[2].fields["checkedAt"]?.stringValue ?? ""
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
                #expect(upstream.hits.withLock { $0 } == 1)
                #expect(checkedAts.count == 1, "every caller saw the one run's results")
            }
        }
    }

    @Test func freshBypassesTheCache() async throws {
        let upstream = Upstream(delay: .zero)
        try await upstream.run { port in
            try await withServer {
                $0.limits.statusCacheMs = 60_000
                $0.checks = [StatusCheckTarget(name: "Counted", endpoint: .http("http://127.0.0.1:\(port)/counted"))]
            } _: { client, _ in
                try await client.execute(uri: "/check-statuses", method: .get)
                try await client.execute(uri: "/check-statuses", method: .get)
                #expect(upstream.hits.withLock { $0 } == 1)
                try await client.execute(uri: "/check-statuses?fresh=true", method: .get)
                #expect(upstream.hits.withLock { $0 } == 2)
                try await client.execute(uri: "/check-statuses?fresh=maybe", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
        }
    }

    @Test func justExpiredResultsAreServedWhileARefreshRuns() async throws {
        let upstream = Upstream(delay: .seconds(3))
        try await upstream.run { port in
            try await withServer {
                $0.limits.statusCacheMs = 200
                $0.limits.probeTimeoutMs = 5_000
                $0.checks = [StatusCheckTarget(name: "Counted", endpoint: .http("http://127.0.0.1:\(port)/counted"))]
            } _: { client, _ in
                let first = try await client.execute(uri: "/check-statuses", method: .get) { try read($0.body).items[2] }
                try await Task.sleep(for: .milliseconds(300))
                let second = try await client.execute(uri: "/check-statuses", method: .get) { try read($0.body).items[2] }
                // The previous run's results, answered while no refresh has been answered upstream.
                #expect(second.fields["checkedAt"] == first.fields["checkedAt"], "the previous run's results")
                #expect(upstream.answered.withLock { $0 } == 1, "the answer waited for the refresh")
                // The refresh runs in the background; it reaches the upstream shortly.
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(10)
                while upstream.hits.withLock({ $0 }) < 2, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(upstream.hits.withLock { $0 } == 2, "a refresh started")
            }
        }
    }

    @Test func xmlHasOneResponsePerSource() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/check-statuses", method: .get, headers: [.accept: "application/xml"]) { response in
                #expect(response.status == .multiStatus)
                #expect(response.headers[.contentType] == "application/xml; charset=utf-8")
                let root = try XMLElementTreeParser().parse(Array(response.body.readableBytesView))
                let responses = root.children("DAV:", "response")
                #expect(responses.map { $0.child("DAV:", "href")?.text } == ["/check-statuses/Database", "/check-statuses/Storage"])
                #expect(responses.map { $0.child("DAV:", "status")?.text } == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"])
            }
        }
    }

    @Test func ndjsonStreamsItemsThenTheSummary() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/check-statuses", method: .get, headers: [.accept: "application/x-ndjson"]) { response in
                #expect(response.status == .multiStatus)
                let body = try read(response.body, .ndjson)
                #expect(body.indices == [0, 1])
                #expect(body.summary.total == 2)
            }
        }
    }

    @Test func unwritableAcceptIs406Problem() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/check-statuses", method: .get, headers: [.accept: "image/png"]) { response in
                #expect(response.status == .notAcceptable)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try json(response.body)
                #expect(problem["status"] as? Int == 406)
                #expect(problem["title"] as? String == "Not Acceptable")
            }
        }
    }

    @Test func onlyFailedListsTheDownSources() async throws {
        let port = try await closedPort()
        try await withServer {
            $0.checks = [StatusCheckTarget(name: "Cache", endpoint: .tcp(host: "127.0.0.1", port: port))]
        } _: { client, _ in
            try await client.execute(uri: "/check-statuses?only=failed", method: .get) { response in
                let body = try read(response.body)
                #expect(body.items.map(\.id) == ["Cache"])
                #expect(body.summary == Summary(total: 3, succeeded: 2, failed: 1))
            }
        }
    }

    @Test func singleSourceByName() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/check-statuses/Storage", method: .get) { response in
                #expect(response.status == .multiStatus)
                let parsed = try read(response.body)
                #expect(parsed.items.map(\.id) == ["Storage"])
            }
            try await client.execute(uri: "/check-statuses/Nope", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }
}

@Suite struct ProbeEndpointTests {
    @Test func healthIs503WhenARequiredSourceFails() async throws {
        let port = try await closedPort()
        try await withServer {
            $0.checks = [StatusCheckTarget(name: "Cache", endpoint: .tcp(host: "127.0.0.1", port: port))]
        } _: { client, _ in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/health+json")
                let body = try json(response.body)
                #expect(body["status"] as? String == "fail")
                let checks = try #require(body["checks"] as? [String: [[String: Any]]])
                #expect(checks["Cache:responseTime"]?.first?["status"] as? String == "fail")
                #expect(checks["Database:responseTime"]?.first?["status"] as? String == "pass")
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let parsed = try json(response.body)
                #expect(parsed["detail"] as? String == "required sources failing: Cache")
            }
            try await client.execute(uri: "/livez", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func anOptionalSourceFailingIsOnlyAWarning() async throws {
        let port = try await closedPort()
        try await withServer {
            $0.checks = [StatusCheckTarget(name: "Cache", endpoint: .tcp(host: "127.0.0.1", port: port), isRequired: false)]
        } _: { client, _ in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let parsed = try json(response.body)
                #expect(parsed["status"] as? String == "warn")
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func healthyServerPasses() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let parsed = try json(response.body)
                #expect(parsed["status"] as? String == "pass")
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
