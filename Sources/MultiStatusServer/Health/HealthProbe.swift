import MultiStatus
import NIOCore

/// One source that `/check-statuses` probes.
///
/// `check()` returns the message of a healthy source ("Active") or throws a ``ProblemDetails``
/// (503 for a source that is down); the ``StatusBoard`` adds the timeout (504), latency and time.
public protocol HealthProbe: Sendable {
    /// The source name in the report (`Database`).
    var name: String { get }
    /// The component type of draft-inadarei-api-health-check (`datastore`, `component`, `system`).
    var componentType: String { get }
    /// Whether a failure makes the server unready, or only a warning.
    var isRequired: Bool { get }
    /// Probes the source once.
    /// - Parameter timeout: how long the probe may take; probes that can, pass it on to their I/O.
    /// - Returns: the message of a healthy source.
    func check(timeout: Duration) async throws -> String
}

extension HealthProbe {
    /// A 503 problem for this source being down, with the reason.
    func down(_ detail: String) -> ProblemDetails {
        ProblemDetails(status: .serviceUnavailable, detail: "\(self.name): \(detail)")
    }

    /// A 504 problem for this source not answering within `timeout`.
    func timedOut(_ timeout: Duration) -> ProblemDetails {
        ProblemDetails(status: .gatewayTimeout, detail: "\(self.name): no answer within \(TimeAmount(timeout).nanoseconds / 1_000_000) ms")
    }
}

extension TimeAmount {
    /// The same span as a NIO time amount.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
