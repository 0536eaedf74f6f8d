import Foundation
import Hummingbird
import MultiStatus
import MultiStatusHummingbird

/// `GET`, `HEAD` and `DELETE /files/{path}`: one stored file, with validators and ranges.
struct FileRoutes<Context: RequestContext> {
    let store: any FileStore
    let fileIO = FileIO()

    func register(on router: Router<Context>) {
        for path in ["files", "files/**"] {
            router.get(RouterPath(path)) { request, context in try await self.get(request, context: context, head: false) }
            router.head(RouterPath(path)) { request, context in try await self.get(request, context: context, head: true) }
            router.delete(RouterPath(path)) { request, _ in try await self.delete(request) }
        }
    }

    private func storePath(_ request: Request) throws -> StorePath {
        let raw = request.uri.path.dropFirst("/files".count)
        return try StorePath(encodedURLPath: raw)
    }

    private func get(_ request: Request, context: Context, head: Bool) async throws -> Response {
        let path = try self.storePath(request)
        guard let item = try await self.store.attributes(of: path) else {
            throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        }
        if item.isDirectory { return try await self.listing(path, head: head) }

        var headers: HTTPFields = [
            .eTag: item.etag,
            .lastModified: HTTPDate.format(item.modified),
            .contentType: FileTypes.mediaType(forName: path.name ?? ""),
            .acceptRanges: "bytes",
        ]
        if let ifNoneMatch = request.headers[.ifNoneMatch], ETagList.matches(ifNoneMatch, item.etag) {
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int>?
        if let rangeHeader = request.headers[.range], request.method == .get, Self.ifRangeHolds(request, item) {
            switch ByteRange.parse(rangeHeader, size: item.size) {
            case .whole: break
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(item.size)"
                return ProblemDetails(status: .rangeNotSatisfiable, detail: "range \(rangeHeader) is outside the file's \(item.size) bytes")
                    .response(headers: headers)
            case .range(let bounds): range = bounds
            }
        }
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        let bounds = range ?? (0...max(0, item.size - 1))
        headers[.contentLength] = String(item.size == 0 ? 0 : bounds.count)
        if range != nil { headers[.contentRange] = "bytes \(bounds.lowerBound)-\(bounds.upperBound)/\(item.size)" }
        if head || item.size == 0 { return Response(status: status, headers: headers) }
        let body = try await self.fileIO.loadFile(path: self.store.fileSystemPath(of: path), range: bounds, context: context)
        return Response(status: status, headers: headers, body: body)
    }

    /// `If-Range` with a strong ETag or a date: the range applies only while the file is unchanged.
    private static func ifRangeHolds(_ request: Request, _ item: StoredItem) -> Bool {
        guard let ifRange = request.headers[.ifRange] else { return true }
        if ifRange.hasPrefix("\"") { return ifRange == item.etag }
        return ifRange == HTTPDate.format(item.modified)
    }

    /// A folder: its names as JSON.
    private func listing(_ path: StorePath, head: Bool) async throws -> Response {
        var entries: [JSONValue] = []
        for name in try await self.store.list(path) {
            guard let child = try? path.appending(name), let item = try await self.store.attributes(of: child) else { continue }
            entries.append([
                "name": .string(name),
                "type": item.isDirectory ? "folder" : "file",
                "size": .int(item.size),
                "location": .string(child.urlPath(under: "/files/") + (item.isDirectory ? "/" : "")),
            ])
        }
        let body = ByteBuffer(string: JSONValue.object(["path": .string(path.description), "entries": .array(entries)]).jsonText)
        return .json(body, headers: [.cacheControl: "no-store"], head: head)
    }

    private func delete(_ request: Request) async throws -> Response {
        let path = try self.storePath(request)
        guard !path.components.isEmpty else { throw ProblemDetails(status: .methodNotAllowed, detail: "the store's root cannot be deleted") }
        if let ifMatch = request.headers[.ifMatch] {
            guard let item = try await self.store.attributes(of: path), ETagList.matches(ifMatch, item.etag) else {
                throw ProblemDetails(status: .preconditionFailed, detail: "If-Match does not match the file's current ETag")
            }
        }
        do {
            guard try await self.store.removeFile(at: path) else {
                throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
            }
        } catch let failure as any ItemFailure {
            throw failure.problem
        }
        return Response(status: .noContent)
    }
}

/// `If-None-Match` / `If-Match` lists (RFC 9110 section 13.1).
enum ETagList {
    static func matches(_ header: String, _ etag: String) -> Bool {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" { return true }
        return trimmed.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}

/// A single `bytes=` range (RFC 9110 section 14.2); several ranges are answered with the whole file.
enum ByteRange: Equatable {
    case whole
    case unsatisfiable
    case range(ClosedRange<Int>)

    static func parse(_ header: String, size: Int) -> ByteRange {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix > 0 else { return suffix0(last) }
            guard size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)...(size - 1))
        }
        guard let start = Int(first), start >= 0 else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .range(start...(size - 1)) }
        guard let end = Int(last), end >= start else { return .whole }
        return .range(start...min(end, size - 1))
    }

    private static func suffix0(_ last: Substring) -> ByteRange {
        Int(last) == 0 ? .unsatisfiable : .whole
    }
}

/// IMF-fixdate (RFC 9110 section 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    private static let style = Date.VerbatimFormatStyle(
        format: "\(weekday: .abbreviated), \(day: .twoDigits) \(month: .abbreviated) \(year: .defaultDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits) GMT",
        locale: Locale(identifier: "en_US_POSIX"),
        timeZone: TimeZone(identifier: "GMT")!,
        calendar: Calendar(identifier: .gregorian)
    )

    static func format(_ date: Date) -> String { date.formatted(self.style) }
}
