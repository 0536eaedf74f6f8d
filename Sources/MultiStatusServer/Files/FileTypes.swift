import Hummingbird

/// Media types by file name extension.
enum FileTypes {
    static func mediaType(forName name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        let ext = name[name.index(after: dot)...].lowercased()
        return MediaType.getMediaType(forExtension: ext)?.description ?? "application/octet-stream"
    }
}
