import Hummingbird

/// Media types: by file name extension, and as declared in a `Content-Type`.
enum FileTypes {
    /// The media type of a `Content-Type` value without its parameters, lowercased
    /// (`Multipart/Form-Data; boundary=x` → `multipart/form-data`); `nil` when there is none.
    static func essence(ofContentType value: String?) -> String? {
        guard let essence = value?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased(), !essence.isEmpty else {
            return nil
        }
        return essence
    }

    static func mediaType(forName name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        let ext = name[name.index(after: dot)...].lowercased()
        return MediaType.getMediaType(forExtension: ext)?.description ?? "application/octet-stream"
    }
}
