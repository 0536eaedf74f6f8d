import Logging
import PostgresNIO
import SQLKit
import Synchronization
import _ConnectionPoolModule

/// PostgreSQL's connection pool, which waits a bounded time for a connection and comes back as soon
/// as the server does, however long it was away.
///
/// postgres-nio's pool retries a server that refuses connections with a backoff growing to a minute
/// (100 ms × 1.25ⁿ), and after a minute of failures its circuit breaker fails every lease at once.
/// Left alone, it would see the server back up to a minute late after an outage of minutes. So
/// once leases fail and no connection of the pool is in use, a watcher tries a connection of its
/// own each second; when one opens, a fresh pool (with no backoff) takes over and the old one is
/// shut down, its waiting requests moved to the new one. A pool that is only busy always has
/// connections in use, and is never replaced.
final class PostgresPool: Sendable {
    private struct Current: Sendable {
        /// Counts the pools this one has had, from 0.
        let generation: Int
        let client: PostgresClient
        let run: Task<Void, Never>
        /// Connections of this pool leased now.
        let leased: Counter
    }

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private struct State: Sendable {
        var current: Current
        var watcher: Task<Void, Never>?
        var closed = false
    }

    private let configuration: PostgresClient.Configuration
    private let probe: PostgresConnection.Configuration
    private let logger: Logger
    private let state: Mutex<State>
    /// Leases that succeeded, ever: a watcher stops when one does.
    private let leases = Atomic<Int>(0)
    /// How often the watcher tries the server.
    private static var watchInterval: Duration { .seconds(1) }

    /// - Parameter searchPath: the schema every connection names unqualified tables in (the server's own).
    init(host: String, port: Int, username: String, password: String?, database: String?, searchPath: String, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.additionalStartupParameters = [("search_path", searchPath)]
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 16
        var probe = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        probe.options.connectTimeout = .seconds(2)
        self.configuration = configuration
        self.probe = probe
        self.logger = logger
        self.state = Mutex(State(current: Self.start(configuration, generation: 0, logger: logger)))
    }

    private static func start(_ configuration: PostgresClient.Configuration, generation: Int, logger: Logger) -> Current {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Current(generation: generation, client: client, run: Task { await client.run() }, leased: Counter())
    }

    /// Runs `body` on a pooled connection, or fails with ``DatabaseUnavailable`` when none is leased
    /// within `wait`. The pool itself would wait as long as it takes while requests pile up; a
    /// request is better answered 503 soon. Once `body` has its connection, it runs to the end.
    func lease<Result: Sendable>(waitingAtMost wait: Duration, _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws
        -> Result
    {
        var current = self.state.withLock { $0.current }
        while true {
            do {
                return try await Self.lease(from: current, waitingAtMost: wait) { connection in
                    self.leases.add(1, ordering: .relaxed)
                    return try await body(connection.sql())
                }
            } catch {
                // A request that waited on a pool the watcher replaced waits again on the new one.
                if Self.isShutDown(error), let renewed = self.state.withLock({ $0.closed ? nil : $0.current }),
                    renewed.generation != current.generation
                {
                    current = renewed
                    continue
                }
                if DatabaseUnavailable.classify(error) != nil { self.watch() }
                throw error
            }
        }
    }

    /// Whether `error` says that the pool was shut down.
    private static func isShutDown(_ error: any Error) -> Bool {
        if let error = error as? _ConnectionPoolModule.ConnectionPoolError { return error == .poolShutdown }
        return (error as? PSQLError)?.code == .poolClosed
    }

    private static func lease<Result: Sendable>(
        from current: Current,
        waitingAtMost wait: Duration,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let lease = LeaseState()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await current.client.withConnection { connection in
                    guard lease.settle(.leased) else { throw CancellationError() }
                    current.leased.value.add(1, ordering: .relaxed)
                    defer { current.leased.value.subtract(1, ordering: .relaxed) }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: wait)
                if lease.settle(.abandoned) {
                    throw DatabaseUnavailable(reason: "no PostgreSQL connection within \(Int(wait / .milliseconds(1))) ms")
                }
                return nil
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }

    /// Starts the watcher, unless one runs.
    private func watch() {
        let leasesBefore = self.leases.load(ordering: .relaxed)
        self.state.withLock { state in
            guard !state.closed, state.watcher == nil else { return }
            state.watcher = Task { await self.watchForServer(leasesBefore: leasesBefore) }
        }
    }

    /// Each `watchInterval`, while no lease has succeeded and the pool has nothing leased, tries a
    /// connection of its own; when it opens, renews the pool.
    private func watchForServer(leasesBefore: Int) async {
        defer { self.state.withLock { $0.watcher = nil } }
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.watchInterval)
            let current = self.state.withLock { $0.current }
            guard self.leases.load(ordering: .relaxed) == leasesBefore, current.leased.value.load(ordering: .relaxed) == 0 else { return }
            guard let connection = try? await PostgresConnection.connect(configuration: self.probe, id: 0, logger: self.logger) else { continue }
            try? await connection.close()
            guard self.leases.load(ordering: .relaxed) == leasesBefore, !Task.isCancelled else { return }
            let old = self.state.withLock { state -> Current? in
                guard !state.closed, state.current.leased.value.load(ordering: .relaxed) == 0 else { return nil }
                let old = state.current
                state.current = Self.start(self.configuration, generation: old.generation + 1, logger: self.logger)
                return old
            }
            guard let old else { return }
            self.logger.notice("PostgreSQL answers again; its connection pool was renewed")
            old.run.cancel()
            _ = await old.run.value
            return
        }
    }

    /// Shuts the pool down; it cannot be used afterwards.
    func close() async {
        let (current, watcher) = self.state.withLock { state in
            state.closed = true
            return (state.current, state.watcher)
        }
        watcher?.cancel()
        await watcher?.value
        current.run.cancel()
        _ = await current.run.value
    }
}

/// Where a wait for a pooled connection stands: the first of the lease and the timer to settle it wins.
private final class LeaseState: Sendable {
    enum Outcome { case leased, abandoned }
    private let outcome = Mutex<Outcome?>(nil)

    /// Settles the wait as `outcome`; `false` when the other side settled it first.
    func settle(_ outcome: Outcome) -> Bool {
        self.outcome.withLock { settled in
            guard settled == nil else { return false }
            settled = outcome
            return true
        }
    }
}
