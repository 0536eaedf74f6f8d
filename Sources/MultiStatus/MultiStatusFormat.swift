/// The body formats of a multi-status response.
public enum MultiStatusFormat: String, Sendable, Hashable, CaseIterable {
    /// `application/json`, CONTRACT §2: the default.
    case json
    /// `application/xml`, RFC 4918 section 13.
    case xml
    /// `application/x-ndjson`: one item per line as it finishes, then the summary.
    case ndjson

    /// The `Content-Type` written with this format.
    public var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .xml: "application/xml; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        }
    }

    /// Picks the format for an `Accept` header (RFC 9110 section 12.5.1), honouring q-values.
    ///
    /// No header, `*/*` or `application/*` choose JSON. `text/xml` and `application/xml` choose XML.
    /// - Returns: `nil` when the header names no format this library writes (a 406).
    public static func negotiate(accept: String?) -> MultiStatusFormat? {
        guard let accept, !accept.allSatisfy(\.isWhitespace) else { return .json }
        let ranges = MediaRange.parseList(accept)
        // Each format takes the quality of the most specific range that covers it; ties keep preference order.
        var best: (format: MultiStatusFormat, quality: Double)?
        for format in Self.preference {
            let matches = ranges.compactMap { range in range.specificity(matching: format).map { (range.quality, $0) } }
            guard let quality = matches.max(by: { $0.1 < $1.1 })?.0, quality > 0 else { continue }
            if quality > (best?.quality ?? 0) { best = (format, quality) }
        }
        return best?.format
    }

    /// Order in which a wildcard range picks formats.
    private static let preference: [MultiStatusFormat] = [.json, .xml, .ndjson]

    /// The media types (type/subtype) that select this format.
    var mediaTypes: [String] {
        switch self {
        case .json: ["application/json"]
        case .xml: ["application/xml", "text/xml"]
        case .ndjson: ["application/x-ndjson", "application/ndjson"]
        }
    }
}

/// One element of an `Accept` list.
struct MediaRange {
    var type: String
    var subtype: String
    var quality: Double

    static func parseList(_ header: String) -> [MediaRange] {
        header.split(separator: ",").compactMap { element in
            let parts = element.split(separator: ";").map { $0.trimmingWhitespace().lowercased() }
            guard let mediaType = parts.first, let slash = mediaType.firstIndex(of: "/") else { return nil }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            return MediaRange(
                type: String(mediaType[..<slash]),
                subtype: String(mediaType[mediaType.index(after: slash)...]),
                quality: min(max(quality, 0), 1)
            )
        }
    }

    /// 2 for an exact match, 1 for `type/*`, 0 for `*/*`, `nil` when the range does not cover the format.
    func specificity(matching format: MultiStatusFormat) -> Int? {
        if self.type == "*" && self.subtype == "*" { return 0 }
        if self.subtype == "*" {
            return format.mediaTypes.contains { $0.hasPrefix(self.type + "/") } && format != .ndjson ? 1 : nil
        }
        return self.names(format) ? 2 : nil
    }

    func names(_ format: MultiStatusFormat) -> Bool {
        format.mediaTypes.contains("\(self.type)/\(self.subtype)")
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
