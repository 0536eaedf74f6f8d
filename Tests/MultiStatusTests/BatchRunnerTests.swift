import MultiStatus
import Synchronization
import Testing

struct Refused: ItemFailure {
    var problem: ProblemDetails { ProblemDetails(status: .conflict, detail: "taken") }
}

struct Unexpected: Error {}

@Suite struct BatchRunnerTests {
    @Test func resultsComeBackInRequestOrder() async {
        let runner = BatchRunner(maxConcurrency: 4)
        let results = await runner.run(Array(0..<20), id: { .int($0) }) { n in
            try await Task.sleep(for: .milliseconds((20 - n) * 2))
            return ItemResult(id: .int(n), status: .ok)
        }
        #expect(results.map(\.id) == (0..<20).map { .int($0) })
    }

    @Test func concurrencyIsBounded() async {
        let running = Mutex((now: 0, peak: 0))
        let runner = BatchRunner(maxConcurrency: 3)
        _ = await runner.run(Array(0..<12), id: { .int($0) }) { n in
            running.withLock {
                $0.now += 1; $0.peak = max($0.peak, $0.now)
            }
            try await Task.sleep(for: .milliseconds(10))
            running.withLock { $0.now -= 1 }
            return ItemResult(id: .int(n), status: .ok)
        }
        #expect(running.withLock { $0.peak } == 3)
    }

    @Test func aThrowFailsOnlyThatItem() async {
        let runner = BatchRunner()
        let results = await runner.run([1, 2, 3, 4], id: { .int($0) }) { n in
            if n == 2 { throw Unexpected() }
            if n == 3 { throw Refused() }
            return ItemResult(id: .int(n), status: .ok)
        }
        #expect(results.map(\.status.code) == [200, 500, 409, 200])
        #expect(results[1].id == 2)
        #expect(results[2].problem?.detail == "taken")
    }

    @Test func aSlowItemTimesOutWithoutHoldingTheOthers() async {
        let runner = BatchRunner(maxConcurrency: 4, itemTimeout: .milliseconds(200))
        let clock = ContinuousClock()
        let released = Mutex(false)
        let results = await runner.run([1, 2], id: { .int($0) }) { n in
            if n == 1 {
                // Ignores cancellation on purpose and runs until the test lets it go (or 60 s pass):
                // the timeout must answer anyway, without waiting for it.
                let deadline = clock.now + .seconds(60)
                while !released.withLock({ $0 }) && clock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            }
            return ItemResult(id: .int(n), status: .ok)
        }
        // The runner answered while item 1 was still running: had it waited, item 1 would say 200.
        #expect(results.map(\.status.code) == [504, 200])
        released.withLock { $0 = true }
    }

    @Test func forEachResultReportsEveryIndexOnce() async {
        var seen: [Int] = []
        await BatchRunner(maxConcurrency: 2).forEachResult(Array(0..<10), id: { .int($0) }, apply: { ItemResult(id: .int($0), status: .ok) }) {
            index, _ in
            seen.append(index)
        }
        #expect(seen.sorted() == Array(0..<10))
    }
}
