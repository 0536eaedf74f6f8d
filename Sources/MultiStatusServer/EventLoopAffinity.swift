import Hummingbird
import HummingbirdCore
import Logging
import MultiStatusHummingbird
import NIOCore
import NIOPosix

/// Runs a connection's tasks on the event loop that owns its socket.
///
/// By default a connection's handler runs on Swift's global concurrent pool, so every request
/// crosses threads twice (event loop → pool to handle it, pool → event loop to answer). Here the
/// connection task prefers its channel's event loop as task executor: a request that needs no
/// other thread is read, handled and answered on one thread. Routes that do heavy work move
/// themselves back to the global pool (``GlobalExecutorMiddleware``).
///
/// It also puts each connection through the server's ``ConnectionGate`` first.
struct EventLoopAffineChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let gate: ConnectionGate

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let plainHTTP = Base.self == HTTP1Channel.self
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGateHandler(gate: self.gate, plainHTTP: plainHTTP), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return self.base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await self.base.handle(value: value, logger: logger)
        }
    }
}

/// An event loop as a task executor: jobs run in the loop's order, on its thread.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Runs the batch routes (`/users`, `/upload`) on Swift's global concurrent pool instead: they
/// parse and write large bodies, work that would hold up every other connection of an event loop,
/// and they run parts of it side by side (a 207 written while the database applies the batch).
struct GlobalExecutorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// First path components of the routes moved to the pool.
    let prefixes: Set<Substring>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let first = request.uri.path.dropFirst().prefix { $0 != "/" }
        guard self.prefixes.contains(first) else { return try await next(request, context) }
        return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await next(request, context) }
    }
}

/// Runs a job on the event loop that wakes it, or on Swift's global pool when no event loop does.
///
/// The server's accept loop runs with this preference: a connection accepted on an event loop
/// starts its task there, rather than on the pool first and then on its own loop.
public final class WakingEventLoopExecutor: TaskExecutor, Sendable {
    public init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop {
            loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        } else {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}
