import HTTPTypes
import Synchronization

/// Applies the items of a batch with bounded concurrency and a per-item timeout, keeping request order.
///
/// A feature only says how to apply one item; the runner owns the rest. An item whose closure throws
/// gets its own failure status (``ItemFailure``) or 500, never the whole batch's. An item that runs
/// past the timeout gets `504 Gateway Timeout` at the timeout, whether or not its work notices
/// cancellation.
///
/// ```swift
/// let runner = BatchRunner(maxConcurrency: 8, itemTimeout: .seconds(2))
/// let results = await runner.run(files, id: { .string($0.name) }) { file in
///     try await store.write(file)
/// }
/// ```
public struct BatchRunner: Sendable {
    /// How many items are applied at once.
    public var maxConcurrency: Int
    /// How long one item may take; `nil` for no limit.
    public var itemTimeout: Duration?

    /// Creates a runner.
    /// - Parameters:
    ///   - maxConcurrency: how many items run at once (at least 1).
    ///   - itemTimeout: how long one item may take.
    public init(maxConcurrency: Int = 8, itemTimeout: Duration? = nil) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.itemTimeout = itemTimeout
    }

    /// Applies every item and returns their results in request order.
    /// - Parameters:
    ///   - items: the request's items.
    ///   - id: the identifier of an item, used when the runner makes its result (thrown error, timeout).
    ///   - apply: applies one item and says how it went.
    public func run<Item: Sendable>(
        _ items: [Item],
        id: @escaping @Sendable (Item) -> JSONValue,
        apply: @escaping @Sendable (Item) async throws -> ItemResult
    ) async -> [ItemResult] {
        var results = [ItemResult?](repeating: nil, count: items.count)
        await self.forEachResult(items, id: id, apply: apply) { index, result in
            results[index] = result
        }
        return results.map { $0! }
    }

    /// Applies every item and hands each result over as soon as it finishes (completion order).
    /// - Parameters:
    ///   - items: the request's items.
    ///   - id: the identifier of an item, used when the runner makes its result.
    ///   - apply: applies one item.
    ///   - onResult: receives the item's position in the request and its result.
    public func forEachResult<Item: Sendable>(
        _ items: [Item],
        id: @escaping @Sendable (Item) -> JSONValue,
        apply: @escaping @Sendable (Item) async throws -> ItemResult,
        onResult: (Int, ItemResult) async -> Void
    ) async {
        await withTaskGroup(of: (Int, ItemResult).self) { group in
            var next = 0
            func startNext() {
                guard next < items.count else { return }
                let index = next
                let item = items[index]
                next += 1
                group.addTask {
                    (index, await self.applyOne(item, id: id(item), apply: apply))
                }
            }
            for _ in 0..<min(self.maxConcurrency, items.count) { startNext() }
            while let (index, result) = await group.next() {
                startNext()
                await onResult(index, result)
            }
        }
    }

    private func applyOne<Item: Sendable>(
        _ item: Item,
        id: JSONValue,
        apply: @escaping @Sendable (Item) async throws -> ItemResult
    ) async -> ItemResult {
        guard let timeout = self.itemTimeout else {
            return await Self.outcome(id: id) { try await apply(item) }
        }
        // The work runs in its own task so that the timeout answers on time even if the work
        // ignores cancellation; the first of the two to finish resumes the continuation.
        let race = Race<ItemResult>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                race.setContinuation(continuation)
                let work = Task {
                    race.finish(await Self.outcome(id: id) { try await apply(item) })
                }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    let seconds = timeout / .seconds(1)
                    let problem = ProblemDetails(status: .gatewayTimeout, detail: "did not finish within \(seconds) s")
                    if race.finish(ItemResult(id: id, problem: problem, message: "Timed out")) { work.cancel() }
                }
                race.setCancellers {
                    work.cancel(); timer.cancel()
                }
            }
        } onCancel: {
            race.cancelAll()
        }
    }

    private static func outcome(id: JSONValue, _ body: () async throws -> ItemResult) async -> ItemResult {
        do {
            return try await body()
        } catch let failure as any ItemFailure {
            return ItemResult(id: id, problem: failure.problem, retryAfter: failure.retryAfter)
        } catch is CancellationError {
            return ItemResult(id: id, problem: ProblemDetails(status: .serviceUnavailable, detail: "cancelled before it finished"))
        } catch {
            return ItemResult(id: id, problem: ProblemDetails(status: .internalServerError, detail: "the item failed unexpectedly"))
        }
    }
}

/// The first of several finishers wins; used to race an item's work against its timeout.
private final class Race<Value: Sendable>: Sendable {
    private struct State: ~Copyable {
        var continuation: CheckedContinuation<Value, Never>?
        var done = false
        var cancellers: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func setContinuation(_ continuation: CheckedContinuation<Value, Never>) {
        self.state.withLock { $0.continuation = continuation }
    }

    func setCancellers(_ cancel: @escaping @Sendable () -> Void) {
        let alreadyDone = self.state.withLock { state in
            state.cancellers = cancel
            return state.done
        }
        if alreadyDone { cancel() }
    }

    /// Resumes the waiter with `value` if nothing finished before; returns whether it won.
    @discardableResult
    func finish(_ value: Value) -> Bool {
        let (continuation, cancel) = self.state.withLock { state -> (CheckedContinuation<Value, Never>?, (@Sendable () -> Void)?) in
            guard !state.done else { return (nil, nil) }
            state.done = true
            defer { state.continuation = nil }
            return (state.continuation, state.cancellers)
        }
        guard let continuation else { return false }
        continuation.resume(returning: value)
        cancel?()
        return true
    }

    func cancelAll() {
        let cancel = self.state.withLock { $0.cancellers }
        cancel?()
    }
}
