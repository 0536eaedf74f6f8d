public import Hummingbird
import MultiStatus

extension Request {
    /// A boolean query flag (`?fresh=true`): `true`/`1`, `false`/`0`, or `nil` when absent.
    /// - Throws: a 400 ``ProblemDetails`` for any other value.
    public func booleanQuery(_ name: String) throws -> Bool? {
        switch self.uri.queryParameters[Substring(name)] {
        case nil: nil
        case "true", "1": true
        case "false", "0": false
        case let other?: throw ProblemDetails(status: .badRequest, detail: "\(name)=\(other) is not a boolean; use \(name)=true")
        }
    }
}
