public import Hummingbird
import Synchronization

/// The methods each route answers, read from the router once every route is on it.
public final class RouteMethods: Sendable {
    private struct Route {
        let pattern: [Substring]
        var methods: [String]
    }
    private let routes = Mutex<[Route]>([])

    public init() {}

    /// Records `router`'s routes; call it after the last route is added.
    public func record<Context>(_ router: Router<Context>) {
        var routes: [Route] = []
        for route in router.routes {
            let pattern = route.path.description.split(separator: "/")
            if let index = routes.firstIndex(where: { $0.pattern == pattern }) {
                if !routes[index].methods.contains(route.method.rawValue) { routes[index].methods.append(route.method.rawValue) }
            } else {
                routes.append(Route(pattern: pattern, methods: [route.method.rawValue]))
            }
        }
        self.routes.withLock { $0 = routes }
    }

    /// The methods allowed on `path` by the routes that match it, in the order they were added;
    /// `nil` when no route matches the path.
    public func allowed(on path: String) -> [String]? {
        let segments = path.split(separator: "/")
        let matching = self.routes.withLock { routes in routes.filter { Self.matches($0.pattern, segments) } }
        guard !matching.isEmpty else { return nil }
        var methods: [String] = []
        for method in matching.flatMap(\.methods) where !methods.contains(method) { methods.append(method) }
        return methods
    }

    /// `**` matches what is left, `*`, `:name`, `{name}` and partial wildcards one segment, and
    /// anything else itself.
    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        for (index, element) in pattern.enumerated() {
            if element == "**" { return true }
            guard index < segments.count else { return false }
            let isParameter = element.hasPrefix(":") || element.hasPrefix("{") || element.contains("*")
            if !isParameter && element != segments[index] { return false }
        }
        return pattern.count == segments.count
    }
}

/// Answers a method that a path's routes do not answer with 405 and `Allow`, where the router
/// alone answers 404 as if the path did not exist (RFC 9110 §15.5.6).
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteMethods

    /// Creates the middleware; `routes` is filled once the router has all its routes.
    public init(routes: RouteMethods) {
        self.routes = routes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // Only the router throws HTTPError 404 (no route); a handler's missing resource is a problem.
            guard let allowed = self.routes.allowed(on: request.uri.path), !allowed.contains(request.method.rawValue) else { throw error }
            throw HTTPError(
                .methodNotAllowed, headers: [.allow: allowed.joined(separator: ", ")],
                message: "\(request.method) is not allowed on \(request.uri.path); it allows \(allowed.joined(separator: ", "))")
        }
    }
}
