import Foundation
import Hummingbird
import MultiStatus
import MultiStatusHummingbird

/// Answers `GET` and `HEAD` for one stored file: validators, `If-None-Match`, single byte ranges.
/// Shared by `/files/` and `/dav/`.
struct StoredFileResponder: Sendable {
    let store: any FileStore
    private let fileIO = FileIO()

    init(store: any FileStore) {
        self.store = store
    }

    /// The response for the file at `path`, whose attributes are `item`.
    func response<Context: RequestContext>(
        for path: StorePath,
        item: StoredItem,
        request: Request,
        context: Context,
        head: Bool
    ) async throws -> Response {
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
package enum ByteRange: Equatable {
    case whole
    case unsatisfiable
    case range(ClosedRange<Int>)

    package static func parse(_ header: String, size: Int) -> ByteRange {
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

/// IMF-fixdate (RFC 9110 section 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`, and RFC 3339 for WebDAV's `creationdate`.
enum HTTPDate {
    private static let days: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Written by hand from `gmtime_r` straight into the string's storage: a listing formats
    /// thousands of dates, and a format style costs microseconds each.
    static func format(_ date: Date) -> String {
        let time = Self.utc(date)
        return ByteWriter.string(capacity: 29) { out in
            out.append(Self.days[Int(time.tm_wday)])
            out.append(", ")
            out.append(Int(time.tm_mday), digits: 2)
            out.append(" ")
            out.append(Self.months[Int(time.tm_mon)])
            out.append(" ")
            out.append(Int(time.tm_year) + 1900, digits: 4)
            out.append(" ")
            Self.clock(time, into: &out)
            out.append(" GMT")
        }
    }

    /// `1994-11-06T08:49:37Z`.
    static func rfc3339(_ date: Date) -> String {
        let time = Self.utc(date)
        return ByteWriter.string(capacity: 20) { out in
            out.append(Int(time.tm_year) + 1900, digits: 4)
            out.append("-")
            out.append(Int(time.tm_mon) + 1, digits: 2)
            out.append("-")
            out.append(Int(time.tm_mday), digits: 2)
            out.append("T")
            Self.clock(time, into: &out)
            out.append("Z")
        }
    }

    private static func utc(_ date: Date) -> tm {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var time = tm()
        gmtime_r(&seconds, &time)
        return time
    }

    private static func clock(_ time: tm, into out: inout ByteWriter) {
        out.append(Int(time.tm_hour), digits: 2)
        out.append(":")
        out.append(Int(time.tm_min), digits: 2)
        out.append(":")
        out.append(Int(time.tm_sec), digits: 2)
    }

    /// Reads an IMF-fixdate; `nil` for anything else.
    static func parse(_ text: String) -> Date? {
        // A formatter is not safe to share between threads; parsing dates is rare enough to make one each time.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text.trimmingCharacters(in: .whitespaces))
    }
}
