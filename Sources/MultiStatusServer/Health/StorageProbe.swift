import Foundation
import NIOCore
import NIOFileSystem

/// Probes the data folder: writes a probe file, reads it back and deletes it.
struct StorageProbe: HealthProbe {
    let directory: String
    let name = "Storage"
    let componentType = "datastore"
    let isRequired = true

    func check(timeout: Duration) async throws -> String {
        let path = FilePath(self.directory).appending(".probe-\(UUID().uuidString)")
        let payload = ByteBuffer(string: "multistatus storage probe \(UUID().uuidString)")
        do {
            defer { Task { try? await FileSystem.shared.removeItem(at: path) } }
            try await FileSystem.shared.withFileHandle(forWritingAt: path, options: .newFile(replaceExisting: true)) { handle in
                _ = try await handle.write(contentsOf: payload.readableBytesView, toAbsoluteOffset: 0)
            }
            let readBack = try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
                try await handle.readToEnd(maximumSizeAllowed: .bytes(Int64(payload.readableBytes + 1)))
            }
            try await FileSystem.shared.removeItem(at: path)
            guard readBack == payload else { throw self.down("probe file read back different bytes") }
            return "Active"
        } catch let error as FileSystemError {
            throw self.down("\(error.code) at \(self.directory)")
        }
    }
}
