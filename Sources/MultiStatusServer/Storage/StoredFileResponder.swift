import Foundation
import Hummingbird
import MultiStatus
import MultiStatusHummingbird

/// Answers `GET` and `HEAD` for one stored file: validators, `If-None-Match`, single byte ranges.
/// Shared by `/files/` and `/dav/`. Headers and bytes come from one open descriptor.
enum StoredFileResponder {
    /// The response for `file`, open at `path`.
    static func response(for path: StorePath, file: OpenedFile, request: Request, head: Bool, maxRanges: Int) throws -> Response {
        let item = file.item
        var headers: HTTPFields = [
            .eTag: item.etag,
            .lastModified: HTTPDate.format(item.modified),
            .contentType: FileTypes.mediaType(forName: path.name ?? ""),
            .acceptRanges: "bytes",
        ]
        if let digest = file.storedSHA256 { headers[.reprDigest] = StoredDigest.field(digest) }
        if let ifNoneMatch = request.headers[.ifNoneMatch], ETagList.matches(ifNoneMatch, item.etag) {
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int>?
        if let rangeHeader = request.headers[.range], request.method == .get, Self.ifRangeHolds(request, item) {
            switch ByteRange.parse(rangeHeader, size: item.size, maxRanges: maxRanges) {
            case .whole: break
            case .tooMany(let count):
                headers[.contentRange] = "bytes */\(item.size)"
                return ProblemDetails(
                    status: .rangeNotSatisfiable, detail: "range asks for \(count) separate ranges; at most \(maxRanges) are served",
                    extensions: ["limit": .int(maxRanges)]
                ).response(headers: headers)
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
        // A small file is read at once on this thread, as its stat was: one read from the page cache
        // costs less than a hand-off to the thread pool.
        if bounds.count <= Self.bytesReadInline {
            return Response(
                status: status, headers: headers, body: ResponseBody(byteBuffer: try file.read(from: bounds.lowerBound, count: bounds.count)))
        }
        return Response(
            status: status, headers: headers,
            body: ResponseBody { writer in
                try await Self.stream(file, bounds, to: &writer)
                try await writer.finish(nil)
            })
    }

    /// The largest body read on the caller's thread.
    static var bytesReadInline: Int { 64 << 10 }
    /// The size of each read of a larger body, on the thread pool.
    static var chunkBytes: Int { 256 << 10 }

    /// Writes the bytes of `bounds`, chunk by chunk, reading the next chunk on the thread pool while
    /// the current one is written: one chunk waits in memory at a time, whatever the file's size.
    private static func stream(_ file: OpenedFile, _ bounds: ClosedRange<Int>, to writer: inout some ResponseBodyWriter) async throws {
        let end = bounds.upperBound + 1
        func read(from offset: Int) -> Task<ByteBuffer, any Error> {
            let count = min(Self.chunkBytes, end - offset)
            return Task { try await file.threadPool.runIfActive { try file.read(from: offset, count: count) } }
        }
        var offset = bounds.lowerBound
        var next: Task<ByteBuffer, any Error>? = read(from: offset)
        while let pending = next {
            let chunk = try await pending.value
            offset += chunk.readableBytes
            next = offset < end ? read(from: offset) : nil
            do {
                try await writer.write(chunk)
            } catch {
                _ = try? await next?.value
                throw error
            }
        }
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

/// A `bytes=` range set (RFC 9110 section 14.2), read as a server may: overlapping and adjacent
/// ranges are joined; when one range is left it is served, when several are, the whole file (no
/// `multipart/byteranges`); past a cap, 416. A header that is not a valid range set is ignored.
package enum ByteRange: Equatable {
    case whole
    case unsatisfiable
    case range(ClosedRange<Int>)
    /// More than the cap of ranges are left once joined.
    case tooMany(Int)

    /// Default for callers that do not pass a cap.
    package static let defaultMaxRanges = 64

    package static func parse(_ header: String, size: Int, maxRanges: Int = Self.defaultMaxRanges) -> ByteRange {
        let unit = header.prefix { $0 != "=" }
        guard unit.lowercased() == "bytes", unit.count < header.count else { return .whole }
        var ranges: [ClosedRange<Int>] = []
        var any = false
        for element in header.dropFirst(unit.count + 1).split(separator: ",", omittingEmptySubsequences: false) {
            let spec = element.trimmingCharacters(in: [" ", "\t"])
            if spec.isEmpty { continue }
            any = true
            guard let dash = spec.firstIndex(of: "-") else { return .whole }
            let first = spec[..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                // A suffix: the last `suffix` bytes; none of an empty file.
                guard let suffix = Self.number(last) else { return .whole }
                if suffix > 0 && size > 0 { ranges.append(max(0, size - suffix)...(size - 1)) }
                continue
            }
            guard let start = Self.number(first) else { return .whole }
            let end: Int
            if last.isEmpty {
                end = Int.max
            } else {
                guard let value = Self.number(last), value >= start else { return .whole }
                end = value
            }
            if start < size { ranges.append(start...min(end, size - 1)) }
        }
        guard any else { return .whole }
        guard !ranges.isEmpty else { return .unsatisfiable }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var joined: [ClosedRange<Int>] = []
        for range in ranges {
            if let previous = joined.last, range.lowerBound <= previous.upperBound + 1 {
                joined[joined.count - 1] = previous.lowerBound...max(previous.upperBound, range.upperBound)
            } else {
                joined.append(range)
            }
        }
        if joined.count > maxRanges { return .tooMany(joined.count) }
        return joined.count == 1 ? .range(joined[0]) : .whole
    }

    /// A run of ASCII digits (no sign, no space) that fits an `Int`.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
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
