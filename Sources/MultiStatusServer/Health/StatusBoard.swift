import Foundation
public import MultiStatus
public import NIOCore
import Synchronization

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

        /// The item as a caller without an account sees it: the source, its status and message, and
        /// when to retry; no error detail, which may name addresses.
        public var redacted: ItemResult {
            ItemResult(id: self.item.id, status: self.item.status, message: self.item.message, retryAfter: self.item.retryAfter)
        }
    }

    private let probes: [any HealthProbe]
    private let onProbe: @Sendable (String, Duration) -> Void
    private let timeout: Duration
    private let cacheInterval: Duration
    private var cached: Run?
    private var inFlight: Task<Run, Never>?
    /// Encoded bodies of the cached run, by format and `only=failed`, readable without entering the actor.
    private let encodedBodies = Mutex(EncodedBodies())

    private struct EncodedBodies {
        var run = 0
        var finishedAt = ContinuousClock.Instant.now
        var bodies: [BodyKey: ByteBuffer] = [:]
    }
    /// What a cached body was encoded for.
    private struct BodyKey: Hashable {
        var format: MultiStatusFormat
        var onlyFailed: Bool
        var redacted: Bool
    }
    /// How many probe runs have started; each run probes every source once.
    public private(set) var runCount = 0

    /// Creates a board.
    /// - Parameters:
    ///   - probes: the sources, in report order.
    ///   - timeout: how long each probe may take.
    ///   - cacheInterval: how long results are reused.
    ///   - onProbe: told each probe's source and duration (the metrics).
    public init(
        probes: [any HealthProbe],
        timeout: Duration,
        cacheInterval: Duration,
        onProbe: @escaping @Sendable (_ source: String, _ duration: Duration) -> Void = { _, _ in }
    ) {
        self.onProbe = onProbe
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
        await self.run(fresh: fresh).entries
    }

    /// The results of one probe run.
    private struct Run {
        let number: Int
        let finishedAt: ContinuousClock.Instant
        let entries: [Entry]
    }

    private func run(fresh: Bool) async -> Run {
        if !fresh, let cached {
            let age = ContinuousClock.now - cached.finishedAt
            if age < self.cacheInterval { return cached }
            if age < self.cacheInterval * 2 + self.timeout {
                if self.inFlight == nil { _ = self.startRun() }
                return cached
            }
        }
        return await (self.inFlight ?? self.startRun()).value
    }

    private func startRun() -> Task<Run, Never> {
        self.runCount += 1
        let number = self.runCount
        let task = Task {
            let run = Run(number: number, finishedAt: ContinuousClock.now, entries: await self.runProbes())
            self.finish(run)
            return run
        }
        self.inFlight = task
        return task
    }

    private func finish(_ run: Run) {
        self.cached = Run(number: run.number, finishedAt: ContinuousClock.now, entries: run.entries)
        self.encodedBodies.withLock { $0 = EncodedBodies(run: run.number, finishedAt: ContinuousClock.now) }
        self.inFlight = nil
    }

    /// The `/check-statuses` body in `format`, encoded once per run and shared by every caller.
    /// - Parameter redacted: each source's status and message only (``Entry/redacted``), for callers without an account.
    public nonisolated func body(format: MultiStatusFormat, onlyFailed: Bool, redacted: Bool = false, fresh: Bool = false) async throws -> ByteBuffer
    {
        let key = BodyKey(format: format, onlyFailed: onlyFailed, redacted: redacted)
        // The hot path: a body of the current run, taken without an actor hop.
        if !fresh {
            let cached = self.encodedBodies.withLock { cache in
                ContinuousClock.now - cache.finishedAt < self.cacheInterval ? cache.bodies[key] : nil
            }
            if let cached { return cached }
        }
        return try await self.encodeBody(key, fresh: fresh)
    }

    private func encodeBody(_ key: BodyKey, fresh: Bool) async throws -> ByteBuffer {
        let run = await self.run(fresh: fresh)
        let report = try MultiStatusReport(collection: .sources, items: run.entries.map { key.redacted ? $0.redacted : $0.item })
        let body = ByteBuffer(string: report.encoded(as: key.format, onlyFailed: key.onlyFailed))
        // Only the body of the run that is cached now is kept; one from another run is answered and dropped.
        self.encodedBodies.withLock { cache in
            if cache.run == run.number { cache.bodies[key] = body }
        }
        return body
    }

    private nonisolated func runProbes() async -> [Entry] {
        let probes = self.probes
        let timeout = self.timeout
        let retryAfter = max(1, Int((self.cacheInterval / .seconds(1)).rounded(.up)))
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
                self.onProbe(probes[index].name, elapsed)
                let latencyMs = Int(elapsed / .milliseconds(1))
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
