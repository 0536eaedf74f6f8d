import Foundation
import Hummingbird
import MultiStatus
import NIOCore

extension DAVRoutes {
    /// Longest lock timeout granted; `Infinite` and longer requests get this.
    static var maxLockSeconds: Int { 7 * 24 * 3600 }
    /// Timeout granted when the client names none.
    static var defaultLockSeconds: Int { 3600 }

    func lock(_ request: Request, path: StorePath) async throws -> Response {
        let timeout = Self.lockTimeout(request.headers[.timeout])
        guard let info = try await self.xmlBody(request) else { return try await self.refreshLock(request, path: path, timeout: timeout) }
        let dav = DAVPropertyName.davNamespace
        guard info.namespace == dav, info.name == "lockinfo",
            let scope = info.child(dav, "lockscope")?.children.first, scope.namespace == dav, scope.name == "exclusive" || scope.name == "shared",
            info.child(dav, "locktype")?.child(dav, "write") != nil
        else {
            throw ProblemDetails(
                status: .badRequest, detail: "a LOCK body must be a DAV:lockinfo with a DAV:lockscope and a DAV:locktype of DAV:write")
        }
        let depthInfinity: Bool
        switch request.headers[.depth]?.lowercased() {
        case nil, "infinity": depthInfinity = true
        case "0": depthInfinity = false
        default: throw ProblemDetails(status: .badRequest, detail: "Depth of LOCK must be 0 or infinity")
        }
        var created = false
        if try await self.store.attributes(of: path) == nil {
            // A lock on an unmapped URL creates an empty resource (RFC 4918 section 7.3).
            try await self.requireParent(of: path)
            try await self.authorize(request, path: path, protecting: [.init(path.parent)])
            let staged = try await self.store.stage(for: path, refusingExisting: true, digest: false)
            _ = try await staged.finish()
            _ = try await self.store.commit([(staged, path)], overwrite: false)[0].get()
            created = true
        } else if request.headers[.davIf] != nil {
            try await self.authorize(request, path: path, protecting: [])
        }
        let lock = DAVLock(
            token: "urn:uuid:" + UUID().uuidString.lowercased(),
            root: path,
            depthInfinity: depthInfinity,
            exclusive: scope.name == "exclusive",
            owner: info.child(dav, "owner")?.innerXML ?? "",
            timeoutSeconds: timeout,
            expiresAt: LockStore.now() + timeout * 1000
        )
        let conflicts = try await self.locks.take(lock)
        guard conflicts.isEmpty else {
            if created { _ = try? await self.store.removeItem(at: path) }
            let roots = Set(conflicts.map { DAVLocation.href($0.root, isCollection: false) }).sorted()
            throw DAVError(
                status: .locked,
                condition: "<D:no-conflicting-lock>" + roots.map { "<D:href>\(XMLText.escaped($0))</D:href>" }.joined() + "</D:no-conflicting-lock>",
                detail: "\(roots.joined(separator: ", ")) is already locked"
            )
        }
        return Self.lockResponse(lock, status: created ? .created : .ok)
    }

    /// LOCK without a body: the `If` header names a lock on the resource whose timeout starts again.
    private func refreshLock(_ request: Request, path: StorePath, timeout: Int) async throws -> Response {
        guard let header = request.headers[.davIf] else {
            throw ProblemDetails(status: .badRequest, detail: "a LOCK without a body refreshes a lock and needs an If header with its token")
        }
        let submitted = try DAVIfHeader(parsing: header, maxBytes: self.limits.ifHeaderBytes, maxLists: self.limits.ifHeaderLists).submittedTokens
        guard let lock = try await self.locks.locks(covering: path).first(where: { submitted.contains($0.token) }) else {
            throw DAVError(
                status: .preconditionFailed,
                condition: "<D:lock-token-matches-request-uri/>",
                detail: "no lock named in the If header covers \(DAVLocation.href(path, isCollection: false))"
            )
        }
        try self.requireOwn(lock)
        return Self.lockResponse(try await self.locks.refresh(lock, timeoutSeconds: timeout), status: .ok)
    }

    private static func lockResponse(_ lock: DAVLock, status: HTTPResponse.Status) -> Response {
        let body = ByteBuffer(
            string: MultiStatusEncoder.propDocument([DAVProperty(LiveProperties.lockDiscovery, xml: LiveProperties.activeLock(lock, asGranted: true))]
            ))
        return Response(
            status: status,
            headers: [
                .lockToken: "<\(lock.token)>", .contentType: MultiStatusFormat.xml.contentType, .contentLength: String(body.readableBytes),
            ],
            body: .init(byteBuffer: body)
        )
    }

    /// Refuses with 403 a lock that another account took: only its own account may refresh or release it.
    private func requireOwn(_ lock: DAVLock) throws(ProblemDetails) {
        guard lock.isUsable(by: self.locks.principal) else {
            throw ProblemDetails(
                status: .forbidden, detail: "the lock on \(DAVLocation.href(lock.root, isCollection: false)) belongs to another account")
        }
    }

    /// The first timeout of a `Timeout` header this server understands (`Second-N`, `Infinite`), capped.
    static func lockTimeout(_ header: String?) -> Int {
        guard let header else { return Self.defaultLockSeconds }
        for candidate in header.split(separator: ",") {
            let value = candidate.trimmingCharacters(in: .whitespaces)
            if value.caseInsensitiveCompare("Infinite") == .orderedSame { return Self.maxLockSeconds }
            if value.lowercased().hasPrefix("second-"), let seconds = Int(value.dropFirst("second-".count)), seconds > 0 {
                return min(seconds, Self.maxLockSeconds)
            }
        }
        return Self.defaultLockSeconds
    }

    func unlock(_ request: Request, path: StorePath) async throws -> Response {
        guard let header = request.headers[.lockToken], header.hasPrefix("<"), header.hasSuffix(">") else {
            throw ProblemDetails(status: .badRequest, detail: "UNLOCK needs a Lock-Token header: <urn:uuid:…>")
        }
        let token = String(header.dropFirst().dropLast())
        guard let lock = try await self.locks.locks(covering: path).first(where: { $0.token == token }) else {
            throw DAVError(
                status: .conflict,
                condition: "<D:lock-token-matches-request-uri/>",
                detail: "lock \(token) does not cover \(DAVLocation.href(path, isCollection: false))"
            )
        }
        try self.requireOwn(lock)
        try await self.locks.remove(token: token)
        return Response(status: .noContent)
    }
}
