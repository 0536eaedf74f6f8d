import MultiStatusServer
import NIOCore
import NIOPosix
import Testing

@Suite struct EventLoopAffinityTests {
    /// A task started from an event loop runs on that loop; one started elsewhere on the global pool.
    @Test func aTaskRunsOnTheEventLoopThatStartedIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let executor = WakingEventLoopExecutor()
        for loop in group.makeIterator() {
            let ranOn = try await loop.submit {
                Task(executorPreference: executor) { MultiThreadedEventLoopGroup.currentEventLoop.map { $0 === loop } }
            }.get().value
            #expect(ranOn == true)
        }
        let elsewhere = await Task(executorPreference: executor) { MultiThreadedEventLoopGroup.currentEventLoop == nil }.value
        #expect(elsewhere)
        try await group.shutdownGracefully()
    }
}
