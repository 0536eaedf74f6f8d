import Hummingbird
import Synchronization

/// Media types by file name extension.
enum FileTypes {
    static func mediaType(forName name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        let ext = name[name.index(after: dot)...].lowercased()
        if let known = self.described.withLock({ $0[ext] }) { return known }
        guard let type = MediaType.getMediaType(forExtension: ext)?.description else { return "application/octet-stream" }
        // Only extensions of the known table are kept, so the cache cannot grow past it.
        self.described.withLock { $0[ext] = type }
        return type
    }

    /// Media types already described, by extension: a listing asks for thousands.
    private static let described = Mutex<[String: String]>([:])
}
