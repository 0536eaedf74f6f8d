import CoreMetrics
import Hummingbird
import MultiStatus
import MultiStatusHummingbird
import Prometheus

/// The server's metrics, kept in a Prometheus registry of its own and served by `GET /metrics`.
///
/// Metrics are made through swift-metrics types with a `PrometheusMetricsFactory` over that
/// registry, never through the process-wide `MetricsSystem`: a library must not bootstrap that
/// for its host, and several servers in one process (the tests) must not add up each other's
/// counts. For the same reason requests are counted from the access log's hook
/// (`RequestLogMiddleware`'s `onAnswered`) rather than by Hummingbird's `MetricsMiddleware`, which
/// reports to the process-wide system only; the access log already sees each answer, with the
/// status the problem middleware gave an error, when its last byte is sent.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Read when the metrics are served.
    private let openConnections: @Sendable () -> Int
    private let locksHeld: @Sendable () async throws -> Int

    /// - Parameters:
    ///   - openConnections: the connections open now.
    ///   - locksHeld: the WebDAV locks held now.
    init(openConnections: @escaping @Sendable () -> Int, locksHeld: @escaping @Sendable () async throws -> Int) {
        var factory = PrometheusMetricsFactory(registry: self.registry)
        factory.valueHistogramBuckets["multistatus_batch_items"] = [1, 10, 100, 1_000, 10_000, 100_000]
        factory.durationHistogramBuckets["multistatus_probe_duration_seconds"] = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        ]
        self.factory = factory
        self.openConnections = openConnections
        self.locksHeld = locksHeld
    }

    /// Counts one answered request by route (the router's pattern, so that labels stay few), method and status.
    func request(_ answered: RequestLogMiddleware<AppRequestContext>.Answered) {
        let labels = [("route", answered.route ?? "unmatched"), ("method", answered.method.rawValue), ("status", String(answered.status))]
        Counter(label: "multistatus_http_requests_total", dimensions: labels, factory: self.factory).increment()
        Timer(label: "multistatus_http_request_duration_seconds", dimensions: labels, factory: self.factory).record(duration: answered.duration)
    }

    /// Counts a batch's items by their status, and its size.
    func batch(endpoint: String, items: some Collection<ItemResult>) {
        var statuses: [Int: Int] = [:]
        for item in items { statuses[item.status.code, default: 0] += 1 }
        for (status, count) in statuses {
            Counter(label: "multistatus_items_total", dimensions: [("endpoint", endpoint), ("status", String(status))], factory: self.factory)
                .increment(by: count)
        }
        Recorder(label: "multistatus_batch_items", dimensions: [("endpoint", endpoint)], aggregate: true, factory: self.factory).record(items.count)
    }

    /// Counts the bytes of files stored by uploads and `PUT`s.
    func stored(bytes: Int) {
        Counter(label: "multistatus_uploaded_bytes_total", factory: self.factory).increment(by: bytes)
    }

    /// Records how long a status probe of `source` took.
    func probe(source: String, duration: Duration) {
        Timer(label: "multistatus_probe_duration_seconds", dimensions: [("source", source)], factory: self.factory).record(duration: duration)
    }

    /// The Prometheus text of every metric, the gauges read now.
    func exposition() async -> ByteBuffer {
        Gauge(label: "multistatus_open_connections", factory: self.factory).record(self.openConnections())
        if let locks = try? await self.locksHeld() {
            Gauge(label: "multistatus_locks_held", factory: self.factory).record(locks)
        }
        var bytes: [UInt8] = []
        self.registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}
