import Foundation
import MultiStatus
public import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Where uploaded files live. Writes are staged and become visible only when committed whole.
///
/// ```swift
/// let staged = try await store.stage(for: path, refusingExisting: true, digest: true)
/// try await staged.write(chunk)           // as the body streams
/// _ = try await staged.finish()
/// let outcomes = await store.commit([(staged, path)], overwrite: false)
/// ```
public protocol FileStore: Sendable {
    /// Opens a temporary file in the store's file system for a new upload to `path`.
    /// - Parameter digest: compute the SHA-256 of the bytes as they are written (uploads report it).
    /// - Throws: a 409 ``ProblemDetails`` when `path` is a folder, or exists and `refusingExisting` is true.
    func stage(for path: StorePath, refusingExisting: Bool, digest: Bool) async throws -> StagedFile
    /// Makes finished staged files visible at their paths, each atomically, in order.
    ///
    /// With `all`, the files go in together or not at all: when one cannot be placed, those placed
    /// before it are taken back (a new file removed, a replaced one restored), the rest are not
    /// tried, and every file but the one that failed reports ``CommitNotApplied``.
    /// - Returns: per file, whether it was created or replaced, or why not: a 409 ``ProblemDetails``
    ///   when the path exists and `overwrite` is false, 507 when over quota.
    func commit(_ files: [(staged: any StagedFile, path: StorePath)], overwrite: Bool, all: Bool) async -> [Result<CommitOutcome, any Error>]
    /// Removes a staged file that will not be committed.
    func discard(_ staged: StagedFile) async
    /// Finishes several staged files, each as its ``StagedFile/finish(modified:)`` would, in one go:
    /// a thousand small files cost one hop to the file-system threads, not a thousand.
    func finish(_ files: [(staged: any StagedFile, modified: Date?)]) async -> [Result<FinishedFile, any Error>]
    /// Stores a small file given whole, replacing what is at `path`, in one step (staged, synced when
    /// durable, renamed into place): what a `PUT` of a few kilobytes needs, without a hop per stage.
    /// - Parameter digest: the SHA-256 of `bytes`, when known, kept with the file (``StoredDigest``).
    /// - Parameter check: called in the same step with what is at `path` and at its parent, before
    ///   anything is written; what it throws is thrown.
    /// - Throws: 409 when the parent folder is missing or `path` is a folder, 507 over quota.
    func writeWhole(
        _ bytes: ByteBuffer,
        to path: StorePath,
        digest: [UInt8]?,
        check: @escaping @Sendable (_ existing: StoredItem?, _ parent: StoredItem?) throws -> Void
    ) async throws -> (outcome: CommitOutcome, etag: String)
    /// Makes the folders' entries durable (after commits, before answering).
    func syncFolders(_ folders: Set<StorePath>) async throws
    /// The attributes of the file or folder at `path`, or `nil` when nothing is there.
    func attributes(of path: StorePath) async throws -> StoredItem?
    /// The attributes of several paths, read in one go.
    func attributes(of paths: [StorePath]) async throws -> [StoredItem?]
    /// Deletes the file at `path`; returns false when there was none.
    func removeFile(at path: StorePath) async throws -> Bool
    /// Opens the file at `path` for reading, or measures the folder there; `nil` when there is
    /// neither. A file's attributes come from the open descriptor, so they describe the bytes read.
    func openItem(at path: StorePath) async throws -> OpenedItem?
    /// The largest file the quota still allows, or `nil` without a quota.
    func remainingQuota() -> Int?
    /// Bytes stored, and bytes that may still be stored (the quota's rest, or the file system's free space).
    func usage() async throws -> (used: Int, available: Int)
    /// Creates the folder at `path`.
    /// - Throws: 405 when something exists there, 409 when its parent is not a folder.
    func makeFolder(at path: StorePath) async throws
    /// Deletes the file or the folder with everything in it; returns false when nothing was there.
    func removeItem(at path: StorePath) async throws -> Bool
    /// Deletes the file, or the folder when it is empty or `recursive`; returns false when nothing was there.
    /// - Throws: 409 for a folder that is not empty, without `recursive`.
    func removeItem(at path: StorePath, recursive: Bool) async throws -> Bool
    /// Deletes many files and folders in one go, each as ``removeItem(at:recursive:)`` would.
    func removeItems(_ items: [(path: StorePath, recursive: Bool)]) async -> [Result<Bool, any Error>]
    /// Renames many files and folders in one go, in order; each destination must be free (409
    /// otherwise, nothing replaced), its folder there (409), its source too (404).
    /// - Returns: per item, whether it was a folder.
    func moveItems(_ items: [(from: StorePath, to: StorePath)]) async -> [Result<Bool, any Error>]
    /// Copies the file, or the folder (with its contents when `recursive`), to `destination`, which must not exist.
    func copyItem(from source: StorePath, to destination: StorePath, recursive: Bool) async throws
    /// Renames the file or folder to `destination`, which must not exist.
    func moveItem(from source: StorePath, to destination: StorePath) async throws
    /// Takes the file or folder at `path` out of the tree into the store's staging area, where it
    /// waits to be put back (``reattach(_:at:)``) or deleted (``purge(_:)``): a delete that can be
    /// undone. Its bytes count against the quota until purged. `nil` when nothing is there.
    /// With `journal`, the item waits in the journal's folder, and the change is recorded in it first.
    func detach(_ path: StorePath, journal: StoreJournal?) async throws -> DetachedItem?
    /// Opens the undo log of an atomic batch (``StoreJournal``), replayed at start after a crash.
    func openJournal() throws -> StoreJournal
    /// `path` as the journal records it: from the store's root.
    func journalPath(_ path: StorePath) -> StorePath
    /// Puts a detached item back at `path`, which must be free.
    func reattach(_ item: DetachedItem, at path: StorePath) async throws
    /// Deletes a detached item for good.
    func purge(_ item: DetachedItem) async
    /// Sets the modification time of the file or folder.
    func setModified(_ date: Date, of path: StorePath) async throws
    /// Reads the folder at `path` in batches of at most `batchSize` entries with their attributes,
    /// so that memory stays flat for any folder size. Each batch is turned into `Rendered` (the
    /// bytes of a listing, say) by `render` as soon as it is read, on a file-system thread or the
    /// caller's, several batches at once, and handed to `body` in folder order.
    func forEachEntries<Rendered: Sendable>(
        in path: StorePath,
        batchSize: Int,
        render: @escaping @Sendable (_ batch: [(name: String, item: StoredItem)]) -> Rendered,
        _ body: (Rendered) async throws -> Void
    ) async throws
}

extension FileStore {
    /// Commits each file on its own: one that fails does not hold back the others.
    public func commit(_ files: [(staged: any StagedFile, path: StorePath)], overwrite: Bool) async -> [Result<CommitOutcome, any Error>] {
        await self.commit(files, overwrite: overwrite, all: false)
    }
}

/// A file of an all-or-nothing commit that was not placed, or was taken back, because another failed.
public struct CommitNotApplied: Error, Sendable {
    /// The position of the file that failed.
    public let failedIndex: Int
}

/// A file or folder taken out of the tree by ``FileStore/detach(_:)``.
public struct DetachedItem: Sendable, Hashable {
    /// Where it waits, in the store's staging area.
    let location: String
    /// The bytes of its files.
    let size: Int
    let isDirectory: Bool
}

/// What a commit did.
public enum CommitOutcome: Sendable {
    case created
    case replaced
}

/// A stored file or folder.
public struct StoredItem: Sendable, Hashable {
    /// True for a folder.
    public var isDirectory: Bool
    /// Size in bytes.
    public var size: Int
    /// Last modification time.
    public var modified: Date
    /// The time of the last status change, the nearest to a creation time that Linux `stat` gives.
    public var changed: Date
    /// The inode number, which with `size` and `modifiedNanoseconds` makes the entity tag.
    public var inode: UInt64
    /// The modification time in nanoseconds since 1970, exactly as the file system keeps it.
    public var modifiedNanoseconds: Int64

    /// A strong entity tag derived from inode, size and modification time: it changes whenever the
    /// content may have, and survives the rename or link that commits a staged file.
    public var etag: String {
        ByteWriter.string(capacity: Self.etagCapacity) { self.writeETag(into: &$0) }
    }

    /// The most bytes an entity tag takes.
    static var etagCapacity: Int { 3 * 16 + 4 }

    /// Writes `"inode-size-mtime"`, each in hex: a listing writes one per member, without a string.
    func writeETag(into out: inout ByteWriter) {
        out.append("\"")
        out.appendHex(self.inode)
        out.append("-")
        out.appendHex(UInt64(bitPattern: Int64(self.size)))
        out.append("-")
        out.appendHex(UInt64(bitPattern: self.modifiedNanoseconds))
        out.append("\"")
    }
}

/// What ``FileStore/openItem(at:)`` found.
public enum OpenedItem: Sendable {
    case folder(StoredItem)
    case file(OpenedFile)
}

/// A stored file open for reading, with the attributes `fstat` gave of that descriptor. Closed
/// when the last reference goes, so a response body streaming it keeps it open.
public final class OpenedFile: Sendable {
    private let descriptor: Int32
    /// The file's attributes when it was opened.
    public let item: StoredItem
    let threadPool: NIOThreadPool

    init(descriptor: Int32, item: StoredItem, threadPool: NIOThreadPool) {
        self.descriptor = descriptor
        self.item = item
        self.threadPool = threadPool
    }

    deinit {
        close(self.descriptor)
    }

    /// Reads `count` bytes from `offset`, on the caller's thread.
    /// - Throws: when the file is shorter than it was when opened (changed in place by something
    ///   other than the store, which only ever renames whole files in).
    /// The SHA-256 of the file's bytes, when the store knows it (``StoredDigest``).
    var storedSHA256: [UInt8]? {
        StoredDigest.read(from: self.descriptor, size: self.item.size)
    }

    func read(from offset: Int, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: Int32 = 0
        while buffer.readableBytes < count {
            let wanted = count - buffer.readableBytes
            let position = off_t(offset + buffer.readableBytes)
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes in
                let read = pread(self.descriptor, bytes.baseAddress, wanted, position)
                if read < 0 { failure = errno }
                return max(0, read)
            }
            guard read == 0 else { continue }
            if failure == EINTR {
                failure = 0
                continue
            }
            throw POSIXFailure(errno: failure == 0 ? EIO : failure, operation: "read a file (shorter than when it was opened?)")
        }
        return buffer
    }
}

/// An upload being written to a temporary file; hashes and counts the bytes as they pass.
public protocol StagedFile: AnyObject, Sendable {
    /// Bytes written so far.
    var size: Int { get }
    /// Appends bytes.
    func write(_ buffer: ByteBuffer) async throws
    /// Flushes, syncs (when durable) and closes the file; its SHA-256, when computed, is kept with
    /// it (``StoredDigest``), and its modification time set to `modified` when given.
    func finish(modified: Date?) async throws -> FinishedFile
}

extension StagedFile {
    /// Flushes, syncs (when durable) and closes the file.
    public func finish() async throws -> FinishedFile {
        try await self.finish(modified: nil)
    }
}

/// A staged file whose bytes are all written.
public struct FinishedFile: Sendable, Hashable {
    /// The SHA-256 of the content, in lowercase hex, when it was asked for.
    public var sha256: String?
    /// The entity tag the file will have once committed.
    public var etag: String
}
