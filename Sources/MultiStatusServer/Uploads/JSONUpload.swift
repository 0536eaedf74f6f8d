import Foundation
import Hummingbird
import MultiStatus

/// Reads `{"files": [{"filename": "a.txt", "content": "<base64>", "contentType": "text/plain", "sha256": "<hex>", "mtime": <seconds>}]}`.
enum JSONUpload {
    static func read(_ document: ByteBuffer, into batch: UploadBatch) async throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(document.readableBytesView)
        } catch {
            throw ProblemDetails.invalidJSON(error)
        }
        guard case .object(let top) = value, case .array(let files)? = top["files"] else {
            throw ProblemDetails(status: .badRequest, detail: "expected {\"files\": [{\"filename\": …, \"content\": <base64>}]}")
        }
        guard files.count <= batch.limits.filesPerRequest else {
            throw batch.tooManyFiles(count: files.count)
        }
        for (index, entry) in files.enumerated() {
            /// Refuses the entry, which the request carries as it is.
            func refuse(_ id: String, _ detail: String) {
                batch.carry(name: entry.jsonText, contentType: nil)
                batch.refuse(id: .string(id), ProblemDetails(status: .badRequest, detail: detail))
            }
            guard case .object(let members) = entry, case .string(let filename)? = members["filename"] else {
                refuse("files[\(index)]", "files[\(index)] needs a string \"filename\"")
                continue
            }
            guard case .string(let base64)? = members["content"] else {
                refuse(filename, "\"content\" must be a base64 string")
                continue
            }
            let contentType: String?
            switch members["contentType"] {
            case nil, .null?: contentType = nil
            case .string(let type)?: contentType = type
            default:
                refuse(filename, "\"contentType\" must be a string")
                continue
            }
            guard let bytes = Data(base64Encoded: base64) else {
                refuse(filename, "\"content\" is not valid base64")
                continue
            }
            let claims = Result { () throws(ProblemDetails) in try Self.claims(members) }
            let buffer = ByteBuffer(bytes: bytes)
            batch.carry(name: filename, contentType: contentType)
            if case .success(let claims) = claims { batch.carry(claims) }
            batch.carry(buffer)
            guard try await batch.begin(filename: filename, contentType: contentType, claims: claims) else { continue }
            if await batch.append(buffer) { await batch.finishCurrent() }
        }
    }

    /// An entry's `sha256` (64 hexadecimal digits) and `mtime` (seconds since 1970).
    private static func claims(_ members: [String: JSONValue]) throws(ProblemDetails) -> FileClaims {
        var claims = FileClaims()
        switch members["sha256"] {
        case nil, .null?: break
        case .string(let hex)?: claims.sha256 = try FileClaims.sha256(hex: hex, from: "\"sha256\"")
        default: throw ProblemDetails(status: .badRequest, detail: "\"sha256\" must be a string of 64 hexadecimal digits")
        }
        switch members["mtime"] {
        case nil, .null?: break
        case .int(let seconds)? where seconds >= 0 && Double(seconds) < FileClaims.latestTime:
            claims.modified = Date(timeIntervalSince1970: Double(seconds))
        case .double(let seconds)? where seconds >= 0 && seconds < FileClaims.latestTime: claims.modified = Date(timeIntervalSince1970: seconds)
        default: throw ProblemDetails(status: .badRequest, detail: "\"mtime\" must be seconds since 1970")
        }
        return claims
    }
}
