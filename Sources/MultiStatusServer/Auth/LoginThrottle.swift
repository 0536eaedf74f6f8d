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
    private let records = Mutex<[String: Record]>([:])
    /// Addresses remembered before stale ones are swept.
    private static var sweepThreshold: Int { 10_000 }

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

    /// Takes a place for an attempt from `address`.
    /// - Returns: `nil` when the attempt may go on (then call ``finish(_:failed:)``), or the
    ///   seconds the address must wait.
    func begin(_ address: String) -> Int? {
        let now = ContinuousClock.now
        return self.records.withLock { records in
            var record = records[address] ?? Record()
            record.failures.removeAll { now - $0 >= self.window }
            if record.failures.count + record.pending >= self.limit {
                // Free again when the oldest failure that counts leaves the window; attempts still running may fail too.
                let index = record.failures.count - self.limit
                let wait = index >= 0 ? self.window - (now - record.failures[index]) : .seconds(1)
                records[address] = record
                return max(1, Int((wait / .seconds(1)).rounded(.up)))
            }
            record.pending += 1
            if records.count >= Self.sweepThreshold { self.sweep(&records, now: now) }
            records[address] = record
            return nil
        }
    }

    /// Ends an attempt that ``begin(_:)`` let through.
    func finish(_ address: String, failed: Bool) {
        let now = ContinuousClock.now
        self.records.withLock { records in
            guard var record = records[address] else { return }
            record.pending = max(0, record.pending - 1)
            if failed {
                record.failures.append(now)
                if record.failures.count > self.limit { record.failures.removeFirst(record.failures.count - self.limit) }
            }
            if record.failures.isEmpty && record.pending == 0 {
                records[address] = nil
            } else {
                records[address] = record
            }
        }
    }

    /// Forgets addresses with no failure in the window and no attempt running.
    private func sweep(_ records: inout [String: Record], now: ContinuousClock.Instant) {
        records = records.filter { _, record in record.pending > 0 || record.failures.contains { now - $0 < self.window } }
    }
}
