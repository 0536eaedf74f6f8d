import Hummingbird
import MultiStatus

/// Streams a `multipart/form-data` body part by part into an ``UploadBatch``.
///
/// The body is fed to ``MultipartReader`` chunk by chunk; each part with a filename is a file
/// whose bytes go straight to its staged file, so no file is ever held in memory.
package enum MultipartUpload {
    /// How the body ended.
    package enum Ending {
        /// The closing delimiter arrived.
        case complete
        /// The body stopped before the closing delimiter; the files that were complete are kept.
        case truncated
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
        let limits = batch.limits
        var reader = MultipartReader(boundary: boundary, maxFields: limits.partHeaderFields, maxBytes: limits.partHeaderBytes)
        var isFile = false
        var accepting = false
        var complete = false
        // Read to the end of the body, the epilogue too, so the answer does not race what the client still sends.
        for try await chunk in body where !complete {
            reader.append(chunk)
            while true {
                let event: MultipartReader.Event?
                do {
                    event = try reader.next()
                } catch {
                    throw Self.problem(error, after: batch.fileCount, limits: limits)
                }
                guard let event else { break }
                switch event {
                case .part(let headers):
                    (isFile, accepting) = try await self.open(headers, batch: batch)
                case .body(let bytes):
                    if isFile && batch.isCarrying { batch.carry(bytes) }
                    if accepting { accepting = await batch.append(bytes) }
                case .partEnd:
                    if accepting { await batch.finishCurrent() }
                    (isFile, accepting) = (false, false)
                case .end:
                    complete = true
                }
            }
        }
        if complete { return .complete }
        if accepting { await batch.abandonCurrent(reason: "the request body ended inside this file") }
        return .truncated
    }

    /// The answer to a body the reader refuses.
    private static func problem(_ failure: MultipartReader.Failure, after count: Int, limits: Limits) -> ProblemDetails {
        switch failure {
        case .malformed(let reason):
            ProblemDetails(status: .badRequest, detail: "malformed multipart body (after part \(count)): \(reason)")
        case .nonASCIIName:
            ProblemDetails(status: .badRequest, detail: "malformed multipart body: a part's header name is not ASCII (after part \(count))")
        case .tooManyFields:
            ProblemDetails.overLimit(
                "a part has more than \(limits.partHeaderFields) header fields (after part \(count))", limit: limits.partHeaderFields)
        case .tooManyBytes:
            ProblemDetails.overLimit(
                "a part's header fields are over \(limits.partHeaderBytes) bytes (after part \(count))", limit: limits.partHeaderBytes)
        }
    }

    /// Starts a part: a file when its Content-Disposition has a filename, else skipped. Whether
    /// it is a file, and whether the file is taken.
    private static func open(_ headers: [MultipartReader.HeaderField], batch: UploadBatch) async throws -> (file: Bool, accepting: Bool) {
        let field = { (name: String) in headers.first(where: { $0.name.lowercased() == name })?.value }
        guard let disposition = field("content-disposition") else { return (false, false) }
        // A value that is not valid UTF-8 is read as empty.
        if disposition.isEmpty {
            batch.carry(name: "", contentType: nil)
            _ = try await batch.begin(filename: "", contentType: nil)
            return (true, false)
        }
        let parameters = HeaderParameters.parse(disposition)
        guard let filename = parameters["filename*"].flatMap(HeaderParameters.decodeExtended) ?? parameters["filename"] else {
            return (false, false)
        }
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
