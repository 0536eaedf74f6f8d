import Hummingbird
import MultiStatus
import MultipartKit

/// Streams a `multipart/form-data` body part by part into an ``UploadBatch``.
///
/// The body is fed to multipart-kit's parser chunk by chunk; each part with a filename is a file
/// whose bytes go straight to its staged file, so no file is ever held in memory.
package enum MultipartUpload {
    /// How the body ended.
    package enum Ending {
        /// The closing delimiter arrived.
        case complete
        /// The body stopped before the closing delimiter; the files that were complete are kept.
        case truncated
    }

    /// A parser event other than body bytes, at its position in the chunk's body bytes.
    private enum Mark {
        case header(name: String, value: String)
        case partEnd
    }

    /// Collects the parser's callbacks for one chunk; used by one task. The parser cuts a body at
    /// every CR byte, so the slices go straight into one buffer instead of one event each.
    private final class EventQueue {
        var body = ByteBuffer()
        var marks: [(mark: Mark, offset: Int)] = []
    }

    /// The boundary of a `multipart/form-data` content type.
    /// - Throws: a 400 problem when it has none or an invalid one (RFC 2046: 1–70 characters).
    package static func boundary(contentType: String) throws -> String {
        guard let boundary = HeaderParameters.parse(contentType)["boundary"], !boundary.isEmpty, boundary.utf8.count <= 70 else {
            throw ProblemDetails(status: .badRequest, detail: "multipart/form-data needs a boundary parameter of 1 to 70 characters")
        }
        return boundary
    }

    package static func read(_ body: RequestBody, boundary: String, into batch: UploadBatch) async throws -> Ending {
        let parser = MultipartParser(boundary: boundary)
        let queue = EventQueue()
        parser.onHeader = { queue.marks.append((.header(name: $0, value: $1), queue.body.readableBytes)) }
        parser.onBody = { queue.body.writeBuffer(&$0) }
        parser.onPartComplete = { queue.marks.append((.partEnd, queue.body.readableBytes)) }

        var headers: [(String, String)] = []
        var partOpen = false
        var isFile = false
        var accepting = false
        let closing = Array("--\(boundary)--".utf8)
        var tail: [UInt8] = []

        /// Hands the body bytes `range` of this chunk to the current part, opening it on its first bytes.
        func deliver(_ range: Range<Int>) async throws {
            guard !range.isEmpty else { return }
            if !partOpen {
                partOpen = true
                (isFile, accepting) = try await self.open(headers, batch: batch)
            }
            // A refused file's bytes are skipped, unless what the request carries is kept.
            guard accepting || (isFile && batch.isCarrying),
                let bytes = queue.body.getSlice(at: queue.body.readerIndex + range.lowerBound, length: range.count)
            else { return }
            if isFile { batch.carry(bytes) }
            if accepting { accepting = await batch.append(bytes) }
        }

        let limits = batch.limits
        var guardrail = MultipartHeaderGuard(boundary: boundary, maxFields: limits.partHeaderFields, maxBytes: limits.partHeaderBytes)
        for try await chunk in body {
            switch guardrail.check(chunk) {
            case nil: break
            case .nonASCIIName:
                throw ProblemDetails(
                    status: .badRequest, detail: "malformed multipart body: a part's header name is not ASCII (after part \(batch.fileCount))")
            case .tooManyFields:
                throw ProblemDetails.overLimit(
                    "a part has more than \(limits.partHeaderFields) header fields (after part \(batch.fileCount))", limit: limits.partHeaderFields)
            case .tooManyBytes:
                throw ProblemDetails.overLimit(
                    "a part's header fields are over \(limits.partHeaderBytes) bytes (after part \(batch.fileCount))", limit: limits.partHeaderBytes)
            }
            do {
                try parser.execute(chunk)
            } catch {
                throw ProblemDetails(status: .badRequest, detail: "malformed multipart body (after part \(batch.fileCount))")
            }
            tail.append(contentsOf: chunk.readableBytesView.suffix(closing.count + 8))
            if tail.count > 2 * (closing.count + 8) { tail.removeFirst(tail.count - (closing.count + 8)) }

            var cursor = 0
            for (mark, offset) in queue.marks {
                try await deliver(cursor..<offset)
                cursor = offset
                switch mark {
                case .header(let name, let value):
                    headers.append((name, value))
                case .partEnd:
                    if !partOpen { (isFile, accepting) = try await self.open(headers, batch: batch) }
                    if accepting { await batch.finishCurrent() }
                    headers = []
                    partOpen = false
                    isFile = false
                    accepting = false
                }
            }
            try await deliver(cursor..<queue.body.readableBytes)
            queue.marks.removeAll(keepingCapacity: true)
            queue.body.clear()
        }
        // The epilogue after the closing delimiter is at most a line break in practice.
        var end = tail[...]
        while let last = end.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { end = end.dropLast() }
        if end.suffix(closing.count).elementsEqual(closing) { return .complete }
        if partOpen && accepting { await batch.abandonCurrent(reason: "the request body ended inside this file") }
        return .truncated
    }

    /// Starts a part: a file when its Content-Disposition has a filename, else skipped. Whether
    /// it is a file, and whether the file is taken.
    private static func open(_ headers: [(String, String)], batch: UploadBatch) async throws -> (file: Bool, accepting: Bool) {
        guard let disposition = headers.first(where: { $0.0.lowercased() == "content-disposition" })?.1 else { return (false, false) }
        // multipart-kit hands over an empty value for a header that is not valid UTF-8.
        if disposition.isEmpty {
            batch.carry(name: "", contentType: nil)
            _ = try await batch.begin(filename: "", contentType: nil)
            return (true, false)
        }
        let parameters = HeaderParameters.parse(disposition)
        guard let filename = parameters["filename*"].flatMap(HeaderParameters.decodeExtended) ?? parameters["filename"] else {
            return (false, false)
        }
        let field = { (name: String) in headers.first(where: { $0.0.lowercased() == name })?.1 }
        let contentType = field("content-type")
        batch.carry(name: filename, contentType: contentType)
        let claims = Result { () throws(ProblemDetails) in try FileClaims(field: field) }
        if case .success(let claims) = claims { batch.carry(claims) }
        return (true, try await batch.begin(filename: filename, contentType: contentType, claims: claims))
    }
}

/// Parameters of a header value such as `form-data; name="f"; filename="a.txt"` (RFC 9110, RFC 6266).
enum HeaderParameters {
    /// Parameter names (lowercased) to values, quotes and backslash escapes removed.
    static func parse(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        var scalars = Substring(value).unicodeScalars[...]
        // Skip the leading token (`form-data`, `multipart/form-data`).
        while let first = scalars.first, first != ";" { scalars.removeFirst() }
        while !scalars.isEmpty {
            scalars.removeFirst()  // ';'
            while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
            var name = ""
            while let first = scalars.first, first != "=", first != ";" { name.unicodeScalars.append(scalars.removeFirst()) }
            guard scalars.first == "=" else { continue }
            scalars.removeFirst()
            var parameterValue = ""
            if scalars.first == "\"" {
                scalars.removeFirst()
                while let next = scalars.first {
                    scalars.removeFirst()
                    if next == "\"" { break }
                    // Browsers send a backslash as it is (WHATWG); `\"` and `\\` are still read as escapes.
                    if next == "\\", let escaped = scalars.first, escaped == "\"" || escaped == "\\" {
                        scalars.removeFirst()
                        parameterValue.unicodeScalars.append(escaped)
                    } else {
                        parameterValue.unicodeScalars.append(next)
                    }
                }
                while let first = scalars.first, first != ";" { scalars.removeFirst() }
            } else {
                while let first = scalars.first, first != ";" { parameterValue.unicodeScalars.append(scalars.removeFirst()) }
                parameterValue = parameterValue.trimmingCharacters(in: .whitespaces)
            }
            result[name.trimmingCharacters(in: .whitespaces).lowercased()] = parameterValue
        }
        return result
    }

    /// Decodes an RFC 8187 extended value (`UTF-8''a%20b.txt`); an invalid one yields U+FFFD, refused as a name later.
    static func decodeExtended(_ value: String) -> String? {
        let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].lowercased() == "utf-8" else { return nil }
        return PercentEncoding.decode(String(parts[2])) ?? "\u{FFFD}"
    }
}
