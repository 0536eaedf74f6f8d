import Testing

@testable import MultiStatusServer

/// The throttle on its own, with a short window: what is counted, and when an address is free again.
@Suite struct LoginThrottleTests {
    @Test func anAddressIsRefusedAtTheLimitAndFreeAgainWhenItsFailuresLeaveTheWindow() async throws {
        let throttle = LoginThrottle(limit: 3, window: .milliseconds(300))
        for _ in 0..<3 {
            #expect(throttle.begin("192.0.2.1") == nil)
            throttle.finish("192.0.2.1", failed: true)
        }
        #expect(throttle.begin("192.0.2.1") == 1, "refused, and told to wait at least a second")
        #expect(throttle.begin("192.0.2.2") == nil, "another address is not held up")
        throttle.finish("192.0.2.2", failed: false)
        try await Task.sleep(for: .milliseconds(400))
        #expect(throttle.begin("192.0.2.1") == nil)
    }

    @Test func successesDoNotCountAndAttemptsInFlightDo() {
        let throttle = LoginThrottle(limit: 3, window: .seconds(60))
        for _ in 0..<10 {
            #expect(throttle.begin("198.51.100.1") == nil)
            throttle.finish("198.51.100.1", failed: false)
        }
        // Three checks running at once use up the limit before any has failed.
        for _ in 0..<3 { #expect(throttle.begin("198.51.100.1") == nil) }
        #expect(throttle.begin("198.51.100.1") != nil)
        for _ in 0..<3 { throttle.finish("198.51.100.1", failed: true) }
        let wait = throttle.begin("198.51.100.1")
        #expect(wait.map { (59...60).contains($0) } == true, "\(String(describing: wait))")
    }
}
