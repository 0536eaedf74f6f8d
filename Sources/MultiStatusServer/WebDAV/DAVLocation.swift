import HTTPTypes
import Hummingbird
import MultiStatus

/// Where WebDAV resources are: URL paths below `/dav/` and the store paths they name.
enum DAVLocation {
    static let prefix = "/dav"

    /// The store path of a percent-encoded URL path below `/dav`.
    static func storePath(urlPath: String) throws(ProblemDetails) -> StorePath {
        guard urlPath == Self.prefix || urlPath.hasPrefix(Self.prefix + "/") else {
            throw ProblemDetails(status: .notFound, detail: "\(urlPath) is not below \(Self.prefix)/")
        }
        return try StorePath(encodedURLPath: urlPath.dropFirst(Self.prefix.count))
    }

    /// The store path named by a `Destination` or a tagged `If` URL: an absolute URL or an absolute path.
    /// - Returns: `nil` when the URL is on another server or not below `/dav/`.
    static func storePath(url: String, request: Request) throws(ProblemDetails) -> StorePath? {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            let authority = rest.prefix { $0 != "/" }
            if let host = request.head.authority, host.lowercased() != authority.lowercased() { return nil }
            rest = rest.dropFirst(authority.count)
        }
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        guard rest == Self.prefix || rest.hasPrefix(Self.prefix + "/") else { return nil }
        return try StorePath(encodedURLPath: rest.dropFirst(Self.prefix.count))
    }

    /// The href of a resource: percent-encoded, collections ending in `/`.
    static func href(_ path: StorePath, isCollection: Bool) -> String {
        if path.components.isEmpty { return Self.prefix + "/" }
        return path.urlPath(under: Self.prefix + "/") + (isCollection ? "/" : "")
    }

    /// The href of a member named `name` of the collection whose href is `folderHref` (ending in `/`);
    /// a listing encodes the folder's path once, not once per member.
    static func href(of name: String, in folderHref: String, isCollection: Bool) -> String {
        folderHref + PercentEncoding.encodePath(name) + (isCollection ? "/" : "")
    }
}
