import MultiStatus
import NIOConcurrencyHelpers
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a folder on the thread pool and hands its rendered batches over in order.
///
/// One worker per pool thread takes the next batch of names, stats and renders it, and goes on
/// to the next batch itself, so a listing wakes each pool thread once, not once per batch. The
/// reader reads a few batches itself rather than wait (``next(helping:)``), and is woken only when
/// the batch it needs is ready. At most
/// `maxBuffered` (two per pool thread, and two) rendered batches wait for the reader; workers
/// stop beyond that and are started again as the reader catches up, so memory stays flat however
/// large the folder.
final class ParallelFolderReader<Rendered: Sendable>: Sendable {
    private struct State {
        /// Rendered batches not yet handed over, by the order they were taken.
        var ready: [Int: Rendered] = [:]
        /// The batch the reader takes next.
        var next = 0
        var running = 0
        var stopped = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<Rendered?, any Error>?
        var drained: CheckedContinuation<Void, Never>?

        /// True once every batch has been handed over (or the reading failed or was stopped).
        var isFinished: Bool { self.running == 0 && self.ready.isEmpty }
    }

    private let folder: FolderHandle
    private let batchSize: Int
    private let render: @Sendable ([(name: String, item: StoredItem)]) -> Rendered
    private let pool: NIOThreadPool
    private let workers: Int
    private let maxBuffered: Int
    private let state = NIOLockedValueBox(State())

    init(
        folder: FolderHandle,
        batchSize: Int,
        next: Int,
        pool: NIOThreadPool,
        render: @escaping @Sendable ([(name: String, item: StoredItem)]) -> Rendered
    ) {
        self.folder = folder
        self.batchSize = batchSize
        self.render = render
        self.pool = pool
        self.workers = max(1, pool.numberOfThreads)
        self.maxBuffered = 2 * self.workers + 2
        // One worker from here; it starts the others (see `work`).
        let start = self.state.withLockedValue { state in
            state.next = next
            return self.workersToStart(&state, atMost: 1)
        }
        self.start(start)
    }

    /// The next rendered batch, or `nil` once the folder is read through.
    /// - Parameter budget: batches the caller may still read itself instead of waiting for a
    ///   worker; counted down.
    func next(helping budget: inout Int) async throws -> Rendered? {
        let (taken, start) = self.state.withLockedValue { state in (self.takeNext(&state), self.workersToStart(&state)) }
        self.start(start)
        if let taken { return try taken.get() }
        // Rather than sleep while the batch it needs is being read, the caller reads one itself:
        // waking a thread costs more than a batch when the other core is busy or asleep.
        while budget > 0, let (index, batch) = try self.folder.read(upTo: self.batchSize) {
            budget -= 1
            let rendered = self.render(batch)
            let taken = self.state.withLockedValue { state in
                state.ready[index] = rendered
                return self.takeNext(&state)
            }
            if let taken { return try taken.get() }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let taken = self.state.withLockedValue { state in
                let taken = self.takeNext(&state)
                if taken == nil { state.waiter = continuation }
                return taken
            }
            if let taken { continuation.resume(with: taken) }
        }
    }

    /// What the reader gets now: a failure, the next batch, or the end (`nil`); `nil` when it must wait.
    private func takeNext(_ state: inout State) -> Result<Rendered?, any Error>? {
        if let failure = state.failure { return .failure(failure) }
        if let rendered = state.ready.removeValue(forKey: state.next) {
            state.next += 1
            return .success(rendered)
        }
        return state.isFinished && self.folder.isReadThrough ? .success(nil) : nil
    }

    /// Stops the workers and returns once none is running: the folder may then be closed.
    func stop() async {
        await withCheckedContinuation { continuation in
            let done = self.state.withLockedValue { state in
                state.stopped = true
                if state.running == 0 { return true }
                state.drained = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// How many workers to start now, counted as running.
    private func workersToStart(_ state: inout State, atMost limit: Int = .max) -> Int {
        guard !state.stopped, state.failure == nil, !self.folder.isReadThrough else { return 0 }
        let count = max(0, min(limit, self.workers - state.running, self.maxBuffered - state.ready.count - state.running))
        state.running += count
        return count
    }

    private func start(_ count: Int) {
        for _ in 0..<count {
            self.pool.submit { workState in self.work(active: workState == .active) }
        }
    }

    /// A worker's loop: batches until the folder is read through, the reader is far enough behind,
    /// or the reading stops.
    private func work(active: Bool) {
        var failure: (any Error)? = active ? nil : NIOThreadPoolError.ThreadPoolInactive()
        // The other workers are started from here, not with the first: two wake-ups sent back to
        // back from the event loop often woke one thread only, and a thread woken while the client
        // was still on the other core was placed on the event loop's core, both listing on one core.
        if active { self.start(self.state.withLockedValue { state in self.workersToStart(&state) }) }
        while failure == nil {
            let goOn = self.state.withLockedValue { state in !state.stopped && state.failure == nil && state.ready.count < self.maxBuffered }
            guard goOn else { break }
            do {
                guard let (index, batch) = try self.folder.read(upTo: self.batchSize) else { break }
                let rendered = self.render(batch)
                let waiter = self.state.withLockedValue { state -> CheckedContinuation<Rendered?, any Error>? in
                    guard index == state.next, let waiter = state.waiter else {
                        state.ready[index] = rendered
                        return nil
                    }
                    state.waiter = nil
                    state.next += 1
                    return waiter
                }
                waiter?.resume(returning: rendered)
            } catch {
                failure = error
            }
        }
        // Leaving: the reader may be waiting for the end, for a failure, or for the workers to stop.
        let (waiter, drained, result) = self.state.withLockedValue {
            state -> (CheckedContinuation<Rendered?, any Error>?, CheckedContinuation<Void, Never>?, Result<Rendered?, any Error>) in
            state.running -= 1
            if let failure, state.failure == nil { state.failure = failure }
            let drained = state.running == 0 ? state.drained : nil
            if drained != nil { state.drained = nil }
            if let failure = state.failure, let waiter = state.waiter {
                state.waiter = nil
                return (waiter, drained, .failure(failure))
            }
            if let waiter = state.waiter, state.isFinished, self.folder.isReadThrough {
                state.waiter = nil
                return (waiter, drained, .success(nil))
            }
            return (nil, drained, .success(nil))
        }
        waiter?.resume(with: result)
        drained?.resume()
    }
}

/// An open folder read in batches by several thread-pool jobs at once: each takes its names under
/// the lock (`readdir` is not for concurrent use on one `DIR`), then stats them on its own.
final class FolderHandle: @unchecked Sendable {
    /// Guards `pointer` and `batches`, which are touched only while it is held. A plain mutex:
    /// Synchronization's `Mutex` is a priority-inheritance futex on Linux, whose contended path
    /// goes through the kernel's rt_mutex (1.7% of a listing's CPU in a profile).
    private let lock = NIOLock()
    private var pointer: OpaquePointer?
    /// Batches taken so far: a batch's index is its place in the folder's order.
    private var batches = 0
    /// Set once `readdir` has reported the end.
    private let atEnd = Atomic<Bool>(false)
    private let descriptor: Int32

    /// Reads the folder open at `descriptor` (`O_RDONLY | O_DIRECTORY`), which it takes over.
    /// - Throws: ``POSIXFailure`` when it cannot be read.
    init(descriptor: Int32) throws {
        guard let pointer = fdopendir(descriptor) else {
            let code = errno
            Glibc.close(descriptor)
            throw POSIXFailure(errno: code, operation: "open a folder")
        }
        self.pointer = pointer
        self.descriptor = descriptor
    }

    /// The next batch of up to `count` entries with their attributes and its index, or `nil` once
    /// the folder is read through.
    func read(upTo count: Int) throws -> (index: Int, entries: [(name: String, item: StoredItem)])? {
        // Under the lock only the raw names are copied, each ending in NUL; the rest runs beside other reads.
        var raw: [UInt8] = []
        let (taken, index): (Int, Int) = try self.lock.withLock {
            guard let pointer = self.pointer else { return (0, 0) }
            raw.reserveCapacity(count * 32)
            var taken = 0
            while taken < count {
                errno = 0
                guard let entry = readdir(pointer) else {
                    if errno != 0 { throw POSIXFailure(errno: errno, operation: "read a folder") }
                    self.atEnd.store(true, ordering: .releasing)
                    break
                }
                // Read in place (see StoreTree.nameOffset).
                let name = (UnsafeRawPointer(entry) + StoreTree.nameOffset).assumingMemoryBound(to: UInt8.self)
                raw.append(contentsOf: UnsafeBufferPointer(start: name, count: strlen(name) + 1))
                taken += 1
            }
            guard taken > 0 else { return (0, 0) }
            self.batches += 1
            return (taken, self.batches - 1)
        }
        guard taken > 0 else { return nil }
        var batch: [(name: String, item: StoredItem)] = []
        batch.reserveCapacity(taken)
        raw.withUnsafeBufferPointer { bytes in
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0)!
                defer { start = end + 1 }
                let cName = UnsafeRawPointer(bytes.baseAddress! + start).assumingMemoryBound(to: CChar.self)
                // Names the store could not have written (invalid UTF-8, dot entries) are not listed.
                guard let name = String(validatingCString: cName), (try? StorePath.validateName(name)) != nil else { continue }
                // Links and other entries the store does not serve are not listed, nor descended through.
                guard let item = StoreTree.item(self.descriptor, cName) else { continue }
                batch.append((name, item))
            }
        }
        return (index, batch)
    }

    /// True once every entry has been taken by a read.
    var isReadThrough: Bool { self.atEnd.load(ordering: .acquiring) }

    /// Closes the folder; called once every read has returned.
    func close() {
        self.lock.withLock {
            if let pointer = self.pointer { closedir(pointer) }
            self.pointer = nil
        }
    }
}
