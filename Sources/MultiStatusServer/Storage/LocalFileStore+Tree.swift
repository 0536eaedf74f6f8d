import Foundation
import MultiStatus
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Folders, whole-tree operations and streamed listings, for WebDAV.
extension LocalFileStore {
    public func usage() async throws -> (used: Int, available: Int) {
        let used = self.usedBytes.withLock { $0 }
        if let quota = self.quotaBytes { return (used, max(0, quota - used)) }
        let root = self.root
        let free = try await self.threadPool.runIfActive {
            var info = statvfs()
            guard statvfs(root, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "read the file system's free space") }
            return Int(info.f_bavail) * Int(info.f_frsize)
        }
        return (used, free)
    }

    public func writeWhole(
        _ bytes: ByteBuffer,
        to path: StorePath,
        check: @escaping @Sendable (_ existing: StoredItem?, _ parent: StoredItem?) throws -> Void
    ) async throws -> (outcome: CommitOutcome, etag: String) {
        let staged = self.stagedPath()
        let destination = self.fileSystemPath(of: path)
        let folder = self.fileSystemPath(of: path.parent)
        let durable = self.durability == .fsync
        let write = { @Sendable () throws -> (CommitOutcome, replacedSize: Int, stat) in
            let existing = try Self.item(at: destination)
            try check(existing, try Self.item(at: folder))
            let fd = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIXFailure(errno: errno, operation: "create a staged file") }
            var info = stat()
            do {
                defer { close(fd) }
                try Self.writeAll(bytes, to: fd)
                if durable && fsync(fd) != 0 { throw POSIXFailure(errno: errno, operation: "sync a file") }
                guard fstat(fd, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "stat a staged file") }
                if existing?.isDirectory == true { throw ProblemDetails(status: .conflict, detail: "\"\(path)\" is a folder") }
                let replacedSize: Int?
                do {
                    replacedSize = try Self.moveIntoPlace(staged, to: destination, name: path, existed: existing != nil)
                } catch let failure as POSIXFailure where failure.errno == ENOENT || failure.errno == ENOTDIR {
                    throw ProblemDetails(status: .conflict, detail: "the folder of \"\(path)\" does not exist")
                }
                if durable {
                    let folderFD = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if folderFD >= 0 {
                        fsync(folderFD)
                        close(folderFD)
                    }
                }
                if let replacedSize {
                    self.removeReplaced(staged, size: replacedSize)
                    return (.replaced, replacedSize, info)
                }
                return (existing == nil ? CommitOutcome.created : .replaced, existing?.size ?? 0, info)
            } catch {
                unlink(staged)
                throw error
            }
        }
        // Without fsync this is a few page-cache system calls, done on the caller's thread as an
        // event-driven server does (no thread hand-off); a sync waits for the disk, on the pool.
        let (outcome, replaced, info) = durable ? try await self.threadPool.runIfActive(write) : try write()
        if !self.account(bytes.readableBytes, replacing: replaced) {
            throw await self.withdrawOverQuota(path, size: bytes.readableBytes, replaced: replaced)
        }
        return (outcome, Self.etag(info))
    }

    public func makeFolder(at path: StorePath) async throws {
        let target = self.fileSystemPath(of: path)
        try await self.threadPool.runIfActive {
            guard mkdir(target, 0o755) == 0 else {
                switch errno {
                case EEXIST: throw ProblemDetails(status: .methodNotAllowed, detail: "\"\(path)\" already exists")
                case ENOENT, ENOTDIR: throw ProblemDetails(status: .conflict, detail: "the parent of \"\(path)\" is not a folder")
                default: throw POSIXFailure(errno: errno, operation: "create a folder")
                }
            }
        }
        try await self.syncFolders([path.parent])
    }

    public func removeItem(at path: StorePath) async throws -> Bool {
        let target = self.fileSystemPath(of: path)
        let removed: Int? = try await self.threadPool.runIfActive {
            var info = stat()
            guard lstat(target, &info) == 0 else { return nil }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                guard unlink(target) == 0 else { throw POSIXFailure(errno: errno, operation: "delete") }
                return Int(info.st_size)
            }
            let size = Self.bytesUsed(under: target)
            try FileManager.default.removeItem(atPath: target)
            return size
        }
        guard let removed else { return false }
        self.usedBytes.withLock { $0 -= removed }
        return true
    }

    public func copyItem(from source: StorePath, to destination: StorePath, recursive: Bool) async throws {
        let from = self.fileSystemPath(of: source)
        let to = self.fileSystemPath(of: destination)
        let size: Int = try await self.threadPool.runIfActive {
            var info = stat()
            guard stat(from, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "stat") }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { return Int(info.st_size) }
            return recursive ? Self.bytesUsed(under: from) : 0
        }
        guard self.account(size, replacing: 0) else { throw self.quotaUsedUp }
        do {
            try await self.threadPool.runIfActive {
                var info = stat()
                if stat(from, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, !recursive {
                    guard mkdir(to, 0o755) == 0 else { throw POSIXFailure(errno: errno, operation: "create a folder") }
                } else {
                    try FileManager.default.copyItem(atPath: from, toPath: to)
                }
            }
        } catch {
            self.usedBytes.withLock { $0 -= size }
            throw error
        }
        try await self.syncFolders([destination.parent])
    }

    public func moveItem(from source: StorePath, to destination: StorePath) async throws {
        let from = self.fileSystemPath(of: source)
        let to = self.fileSystemPath(of: destination)
        try await self.threadPool.runIfActive {
            guard rename(from, to) == 0 else { throw POSIXFailure(errno: errno, operation: "move") }
        }
        try await self.syncFolders([source.parent, destination.parent])
    }

    public func setModified(_ date: Date, of path: StorePath) async throws {
        let target = self.fileSystemPath(of: path)
        let seconds = date.timeIntervalSince1970
        try await self.threadPool.runIfActive {
            let whole = seconds.rounded(.down)
            let time = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
            let times = [time, time]
            guard utimensat(AT_FDCWD, target, times, 0) == 0 else { throw POSIXFailure(errno: errno, operation: "set the modification time") }
        }
    }

    /// Entries a listing reads on the caller's thread before it turns to the thread pool.
    static var entriesReadInline: Int { 32 }
    /// Batches the caller reads beside the pool's workers rather than wait for them.
    static var batchesReadByCaller: Int { 4 }

    public func forEachEntries<Rendered: Sendable>(
        in path: StorePath,
        batchSize: Int,
        render: @escaping @Sendable (_ batch: [(name: String, item: StoredItem)]) -> Rendered,
        _ body: (Rendered) async throws -> Void
    ) async throws {
        let folder = try FolderHandle(path: self.fileSystemPath(of: path))
        // Closed on every way out, after the workers have stopped (the reader's `stop` below).
        defer { folder.close() }
        // The first few entries on the caller's thread, a few microseconds each: a small folder,
        // as most are, is answered without a hand-off to the pool and back.
        guard let first = try folder.read(upTo: min(batchSize, Self.entriesReadInline)) else { return }
        try await body(render(first.entries))
        guard !folder.isReadThrough else { return }
        // Then every thread of the pool reads, stats and renders batches at once, and the caller
        // too, for a few batches: that bounds how long one listing holds an event loop.
        let reader = ParallelFolderReader(folder: folder, batchSize: batchSize, next: 1, pool: self.threadPool, render: render)
        var budget = Self.batchesReadByCaller
        do {
            while let rendered = try await reader.next(helping: &budget) { try await body(rendered) }
        } catch {
            await reader.stop()
            throw error
        }
    }
}
