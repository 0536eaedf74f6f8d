public import HTTPTypes

/// An RFC 9457 problem object: what went wrong, precisely enough to fix it.
///
/// Used both as the body of a whole-request failure (`application/problem+json`)
/// and as the `error` member of a failed item.
///
/// ```swift
/// let problem = ProblemDetails(status: .badRequest, detail: "file name must not contain '/'")
/// ```
public struct ProblemDetails: Sendable, Hashable, Error {
    /// A URI reference that identifies the problem type; `about:blank` when the status says it all.
    public var type: String
    /// A short summary of the problem type; the reason phrase for `about:blank`.
    public var title: String
    /// The HTTP status code this problem stands for.
    public var status: HTTPResponse.Status
    /// An explanation specific to this occurrence.
    public var detail: String?
    /// A URI reference that identifies this occurrence.
    public var instance: String?
    /// Extension members, written next to the standard ones.
    public var extensions: [String: JSONValue]

    /// The media type of a problem body in JSON.
    public static let mediaType = "application/problem+json"

    /// Creates a problem.
    /// - Parameters:
    ///   - status: the status this problem stands for.
    ///   - detail: what was wrong with this request or item.
    ///   - type: a URI naming the problem type; `about:blank` by default.
    ///   - title: a short summary; defaults to the status' reason phrase.
    ///   - instance: a URI naming this occurrence.
    ///   - extensions: extra members.
    public init(
        status: HTTPResponse.Status,
        detail: String? = nil,
        type: String = "about:blank",
        title: String? = nil,
        instance: String? = nil,
        extensions: [String: JSONValue] = [:]
    ) {
        self.type = type
        self.title = title ?? status.reasonPhrase
        self.status = status
        self.detail = detail
        self.instance = instance
        self.extensions = extensions
    }

    /// A `413 Content Too Large` problem for a crossed limit; the limit is in the `limit` member.
    /// - Parameters:
    ///   - detail: what was over the limit, in words.
    ///   - limit: the limit in force (bytes, items or files).
    public static func overLimit(_ detail: String, limit: Int) -> ProblemDetails {
        ProblemDetails(status: .contentTooLarge, detail: detail, extensions: ["limit": .int(limit)])
    }

    /// The problem as a JSON object.
    public var jsonValue: JSONValue {
        var members = self.extensions
        members["type"] = .string(self.type)
        members["title"] = .string(self.title)
        members["status"] = .int(self.status.code)
        if let detail { members["detail"] = .string(detail) }
        if let instance { members["instance"] = .string(instance) }
        return .object(members)
    }

    /// The problem as compact JSON text, members in the order RFC 9457 lists them.
    public var jsonText: String {
        var out = "{\"type\":"
        JSONValue.writeString(self.type, into: &out)
        out += ",\"title\":"
        JSONValue.writeString(self.title, into: &out)
        out += ",\"status\":\(self.status.code)"
        if let detail {
            out += ",\"detail\":"
            JSONValue.writeString(detail, into: &out)
        }
        if let instance {
            out += ",\"instance\":"
            JSONValue.writeString(instance, into: &out)
        }
        for key in self.extensions.keys.sorted() {
            out += ","
            JSONValue.writeString(key, into: &out)
            out += ":"
            self.extensions[key]!.writeJSON(into: &out)
        }
        return out + "}"
    }

    /// Reads a problem from its JSON object; `nil` when the object has no valid `status`.
    public init?(json: JSONValue) {
        guard case .object(var members) = json,
            let code = members.removeValue(forKey: "status")?.intValue, (100...599).contains(code)
        else { return nil }
        let status = HTTPResponse.Status(standardCode: code)
        self.init(
            status: status,
            detail: members.removeValue(forKey: "detail")?.stringValue,
            type: members.removeValue(forKey: "type")?.stringValue ?? "about:blank",
            title: members.removeValue(forKey: "title")?.stringValue,
            instance: members.removeValue(forKey: "instance")?.stringValue,
            extensions: members
        )
    }
}
