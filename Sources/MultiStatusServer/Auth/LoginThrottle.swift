import Synchronization

/// Counts failed logins per client address and turns an address away, before any password work,
/// once it failed `limit` times within `window`.
///
/// An attempt holds a place while its check runs, so that many attempts sent at once cannot all
/// pass before the first failure is counted.
final class LoginThrottle: Sendable {
    /// Failures allowed within the window.
    let limit: Int
    /// How long a failure counts.
    let window: Duration
    private let state = Mutex(State())
    /// How many addresses have a record, readable without the lock.
    private let recorded = Atomic<Int>(0)
    /// Addresses remembered before stale ones are swept early.
    private static var sweepThreshold: Int { 10_000 }

    private struct State {
        var records: [String: Record] = [:]
        /// Records whose failures all left the window are swept once a window.
        var lastSweep = ContinuousClock.now
    }

    private struct Record {
        /// The latest failures, oldest first; at most `limit`.
        var failures: [ContinuousClock.Instant] = []
        /// Attempts being checked now.
        var pending = 0
    }

    /// Creates a throttle: by default 10 failures a minute.
    init(limit: Int = 10, window: Duration = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    /// True when no address has failed within the window or has an attempt running: nobody is refused.
    var isIdle: Bool { self.recorded.load(ordering: .acquiring) == 0 }

    /// Takes a place for an attempt from `address`.
    /// - Returns: `nil` when the attempt may go on (then call ``finish(_:failed:)``), or the
    ///   seconds the address must wait.
    func begin(_ address: String) -> Int? {
        let now = ContinuousClock.now
        return self.state.withLock { state in
            if state.records.count >= Self.sweepThreshold || now - state.lastSweep >= self.window { self.sweep(&state, now: now) }
            var record = state.records[address] ?? Record()
            record.failures.removeAll { now - $0 >= self.window }
            if record.failures.count + record.pending >= self.limit {
                // Free again when the oldest failure that counts leaves the window; attempts still running may fail too.
                let index = record.failures.count - self.limit
                let wait = index >= 0 ? self.window - (now - record.failures[index]) : .seconds(1)
                state.records[address] = record
                return max(1, Int((wait / .seconds(1)).rounded(.up)))
            }
            record.pending += 1
            state.records[address] = record
            self.recorded.store(state.records.count, ordering: .releasing)
            return nil
        }
    }

    /// Ends an attempt that ``begin(_:)`` let through.
    func finish(_ address: String, failed: Bool) {
        let now = ContinuousClock.now
        self.state.withLock { state in
            guard var record = state.records[address] else { return }
            record.pending = max(0, record.pending - 1)
            if failed {
                record.failures.append(now)
                if record.failures.count > self.limit { record.failures.removeFirst(record.failures.count - self.limit) }
            }
            state.records[address] = record.failures.isEmpty && record.pending == 0 ? nil : record
            self.recorded.store(state.records.count, ordering: .releasing)
        }
    }

    /// Forgets addresses with no failure in the window and no attempt running.
    private func sweep(_ state: inout State, now: ContinuousClock.Instant) {
        state.records = state.records.filter { _, record in record.pending > 0 || record.failures.contains { now - $0 < self.window } }
        state.lastSweep = now
        self.recorded.store(state.records.count, ordering: .releasing)
    }
}
