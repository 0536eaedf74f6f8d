import Foundation
public import MultiStatus

/// Runs every ``HealthProbe`` concurrently, each within its timeout, and shares the results.
///
/// Results are reused for `cacheInterval`, and callers that arrive while a run is under way
/// wait for that run instead of starting their own (single flight), so the status endpoints
/// cannot hammer a dependency however often they are called.
public actor StatusBoard {
    /// One source's outcome in a run.
    public struct Entry: Sendable {
        /// The item as `/check-statuses` lists it (with `latencyMs` and `checkedAt`).
        public var item: ItemResult
        /// Whether the source is required for readiness.
        public var isRequired: Bool
        /// The probe's component type, for `/health`.
        public var componentType: String
        /// How long the probe took, in milliseconds.
        public var latencyMs: Int
        /// When the probe finished (RFC 3339).
        public var checkedAt: String
    }

    private let probes: [any HealthProbe]
    private let timeout: Duration
    private let cacheInterval: Duration
    private var cached: (at: ContinuousClock.Instant, entries: [Entry])?
    private var inFlight: Task<[Entry], Never>?
    /// How many probe runs have started; each run probes every source once.
    public private(set) var runCount = 0

    /// Creates a board.
    /// - Parameters:
    ///   - probes: the sources, in report order.
    ///   - timeout: how long each probe may take.
    ///   - cacheInterval: how long results are reused.
    public init(probes: [any HealthProbe], timeout: Duration, cacheInterval: Duration) {
        self.probes = probes
        self.timeout = timeout
        self.cacheInterval = cacheInterval
    }

    /// The latest results: cached when younger than the cache interval, unless `fresh`.
    ///
    /// Just past the interval (up to one more interval plus the probe timeout) the previous results
    /// are answered at once while a refresh runs, so that callers never queue behind slow probes;
    /// older results are not used and callers wait for the run.
    public func entries(fresh: Bool = false) async -> [Entry] {
        if !fresh, let cached {
            let age = ContinuousClock.now - cached.at
            if age < self.cacheInterval { return cached.entries }
            if age < self.cacheInterval * 2 + self.timeout {
                if self.inFlight == nil { _ = self.startRun() }
                return cached.entries
            }
        }
        return await (self.inFlight ?? self.startRun()).value
    }

    private func startRun() -> Task<[Entry], Never> {
        self.runCount += 1
        let task = Task {
            let entries = await self.runProbes()
            self.finishRun(entries)
            return entries
        }
        self.inFlight = task
        return task
    }

    private func finishRun(_ entries: [Entry]) {
        self.cached = (ContinuousClock.now, entries)
        self.inFlight = nil
    }

    private nonisolated func runProbes() async -> [Entry] {
        let probes = self.probes
        let timeout = self.timeout
        let retryAfter = max(1, Int((Double(self.cacheInterval.components.seconds) + Double(self.cacheInterval.components.attoseconds) / 1e18).rounded(.up)))
        let runner = BatchRunner(maxConcurrency: max(1, probes.count), itemTimeout: timeout)
        let clock = ContinuousClock()
        let start = clock.now
        var entries = [Entry?](repeating: nil, count: probes.count)
        await runner.forEachResult(
            Array(probes.indices),
            id: { .string(probes[$0].name) },
            apply: { index in
                let probe = probes[index]
                let message = try await probe.check(timeout: timeout)
                return ItemResult(id: .string(probe.name), status: .ok, message: message)
            },
            onResult: { index, result in
                let elapsed = clock.now - start
                let latencyMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                let checkedAt = Timestamp.now()
                var item = result
                if !item.succeeded {
                    item.message = item.status == .gatewayTimeout ? "Timed out" : "Unavailable"
                    item.retryAfter = retryAfter
                }
                item.fields["latencyMs"] = .int(latencyMs)
                item.fields["checkedAt"] = .string(checkedAt)
                let probe = probes[index]
                entries[index] = Entry(
                    item: item, isRequired: probe.isRequired, componentType: probe.componentType, latencyMs: latencyMs, checkedAt: checkedAt
                )
            }
        )
        return entries.map { $0! }
    }
}
