import CMultiStatusSystem
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
        let free = try await self.threadPool.runIfActive {
            var info = statvfs()
            guard fstatvfs(self.tree.descriptor, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "read the file system's free space") }
            return Int(info.f_bavail) * Int(info.f_frsize)
        }
        return (used, free)
    }

    public func writeWhole(
        _ bytes: ByteBuffer,
        to path: StorePath,
        digest: [UInt8]?,
        check: @escaping @Sendable (_ existing: StoredItem?, _ parent: StoredItem?) throws -> Void
    ) async throws -> (outcome: CommitOutcome, etag: String) {
        let staged = self.stagedPath()
        let durable = self.durability == .fsync
        let write = { @Sendable () throws -> (CommitOutcome, replacedSize: Int, stat) in
            let written = try self.withReachableParent(of: path) { folder, name in
                var parent = stat()
                let existing = StoreTree.entry(folder, name)
                if let existing, StoredItem(served: existing) == nil { throw Self.notServed(path) }
                try check(existing.flatMap(StoredItem.init(served:)), fstat(folder, &parent) == 0 ? StoredItem(parent) : nil)
                return try self.writeStaged(
                    staged, bytes, to: Destination(folder: folder, name: name, path: path), existing: existing, digest: digest, durable: durable)
            }
            guard let written else {
                try check(nil, nil)
                throw ProblemDetails(status: .conflict, detail: "the folder of \"\(path)\" does not exist")
            }
            return written
        }
        // Without fsync this is a few page-cache system calls, done on the caller's thread as an
        // event-driven server does (no thread hand-off); a sync waits for the disk, on the pool.
        let (outcome, replaced, info) = durable ? try await self.threadPool.runIfActive(write) : try write()
        if !self.account(bytes.readableBytes, replacing: replaced) {
            throw await self.withdrawOverQuota(path, size: bytes.readableBytes, replaced: replaced)
        }
        self.onStored?(bytes.readableBytes)
        return (outcome, Self.etag(info))
    }

    /// Writes `bytes` to the new staged file `staged` and renames it to `destination`, where
    /// `existing` was found: the body of ``writeWhole(_:to:check:)``.
    private func writeStaged(
        _ staged: String,
        _ bytes: ByteBuffer,
        to destination: Destination,
        existing: stat?,
        digest: [UInt8]?,
        durable: Bool
    ) throws -> (CommitOutcome, replacedSize: Int, stat) {
        let fd = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXFailure(errno: errno, operation: "create a staged file") }
        var info = stat()
        do {
            defer { close(fd) }
            try Self.writeAll(bytes, to: fd)
            if let digest { StoredDigest.write(digest, size: bytes.readableBytes, to: fd) }
            if durable && fsync(fd) != 0 { throw POSIXFailure(errno: errno, operation: "sync a file") }
            guard fstat(fd, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "stat a staged file") }
            if let existing, (existing.st_mode & S_IFMT) == S_IFDIR {
                throw ProblemDetails(status: .conflict, detail: "\"\(destination.path)\" is a folder")
            }
            let replacedSize = try Self.moveIntoPlace(staged, to: destination, existed: existing != nil)
            // The folder is open already: an multistatus_o_path descriptor cannot be synced, so it is opened for reading.
            if durable {
                let folderFD = openat(destination.folder, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if folderFD >= 0 {
                    fsync(folderFD)
                    close(folderFD)
                }
            }
            if let replacedSize {
                self.removeReplaced(staged, size: replacedSize)
                return (.replaced, replacedSize, info)
            }
            return (existing == nil ? CommitOutcome.created : .replaced, existing.map { Int($0.st_size) } ?? 0, info)
        } catch {
            unlink(staged)
            throw error
        }
    }

    public func makeFolder(at path: StorePath) async throws {
        try await self.threadPool.runIfActive {
            let made: Bool? = try self.withReachableParent(of: path) { folder, name in
                guard mkdirat(folder, name, 0o755) == 0 else {
                    switch errno {
                    case EEXIST: throw ProblemDetails(status: .methodNotAllowed, detail: "\"\(path)\" already exists")
                    case ENOENT, ENOTDIR: return nil
                    default: throw POSIXFailure(errno: errno, operation: "create a folder")
                    }
                }
                return true
            }
            guard made != nil else { throw ProblemDetails(status: .conflict, detail: "the parent of \"\(path)\" is not a folder") }
        }
        try await self.syncFolders([path.parent])
    }

    public func removeItem(at path: StorePath) async throws -> Bool {
        try await self.removeItem(at: path, recursive: true)
    }

    public func removeItem(at path: StorePath, recursive: Bool) async throws -> Bool {
        let removed = try await self.threadPool.runIfActive { try self.remove(path, recursive: recursive) }
        guard let removed else { return false }
        self.usedBytes.withLock { $0 -= removed }
        return true
    }

    public func removeItems(_ items: [(path: StorePath, recursive: Bool)]) async -> [Result<Bool, any Error>] {
        // A job on the pool per part, not per item: a thousand deletes cost a few hand-offs, not a
        // thousand. The parts run at once: an unlink waits on the file system's journal and block
        // bitmaps more than on the CPU.
        let parts = Self.independentParts(of: items.map(\.path), ways: Self.bulkWays)
        let results = await withTaskGroup(of: (Int, [Result<Int?, any Error>]).self) { group in
            for part in parts {
                group.addTask {
                    do {
                        return try await (
                            part.lowerBound,
                            self.bulkPool.runIfActive {
                                let folders = StoreTree.FolderCache(self.tree)
                                return items[part].map { item in Result { try self.remove(item.path, recursive: item.recursive, in: folders) } }
                            }
                        )
                    } catch {
                        return (part.lowerBound, items[part].map { _ in .failure(error) })
                    }
                }
            }
            var results = [Result<Int?, any Error>](repeating: .success(nil), count: items.count)
            for await (start, done) in group { results.replaceSubrange(start..<start + done.count, with: done) }
            return results
        }
        let removed = results.reduce(0) { $0 + ((try? $1.get()).flatMap { $0 } ?? 0) }
        self.usedBytes.withLock { $0 -= removed }
        return results.map { $0.map { $0 != nil } }
    }

    /// How many parts a run of independent deletes is split into.
    static let bulkWays = 8

    /// `paths` in up to `ways` consecutive parts that may be changed at once: when none of them is
    /// another or below another, and there are enough for each part to be worth a job (64);
    /// otherwise one part, changed in order.
    static func independentParts(of paths: [StorePath], ways: Int) -> [Range<Int>] {
        let ways = min(ways, paths.count / 64)
        guard ways > 1 else { return [paths.indices] }
        let all = Set(paths)
        guard all.count == paths.count else { return [paths.indices] }
        for path in paths {
            var ancestor = path.parent
            while !ancestor.components.isEmpty {
                if all.contains(ancestor) { return [paths.indices] }
                ancestor = ancestor.parent
            }
        }
        let size = (paths.count + ways - 1) / ways
        return stride(from: 0, to: paths.count, by: size).map { $0..<min($0 + size, paths.count) }
    }

    public func moveItems(_ items: [(from: StorePath, to: StorePath)]) async -> [Result<Bool, any Error>] {
        let results: [Result<Bool, any Error>]
        do {
            results = try await self.threadPool.runIfActive {
                let folders = StoreTree.FolderCache(self.tree)
                return items.map { item in
                    Result {
                        var isFolder = false
                        defer { if isFolder { folders.forgetAll() } }
                        try self.withBoth(item.from, item.to, in: folders) { from, fromName, to, toName in
                            guard let found = StoreTree.item(from, fromName) else {
                                throw ProblemDetails(status: .notFound, detail: "nothing at \"\(item.from)\"")
                            }
                            isFolder = found.isDirectory
                            guard Self.renameFree(from, fromName, to: to, toName) else {
                                if errno == EEXIST {
                                    throw ProblemDetails(status: .conflict, detail: "\"\(item.to)\" exists; set \"overwrite\": true to replace it")
                                }
                                throw POSIXFailure(errno: errno, operation: "move")
                            }
                        }
                        return isFolder
                    }
                }
            }
        } catch {
            return items.map { _ in .failure(error) }
        }
        let folders = zip(items, results).flatMap { item, result in (try? result.get()) != nil ? [item.from.parent, item.to.parent] : [] }
        do {
            try await self.syncFolders(Set(folders))
        } catch {
            return items.map { _ in .failure(error) }
        }
        return results
    }

    /// Deletes the file or folder at `path` (a folder only when empty, unless `recursive`); runs on
    /// the pool. The bytes of the files it deleted, or `nil` when nothing was there.
    /// With `folders`, the folder is opened once for a run of deletes, and forgotten after a folder is deleted.
    private func remove(_ path: StorePath, recursive: Bool, in folders: StoreTree.FolderCache? = nil) throws -> Int? {
        var folderRemoved = false
        defer { if folderRemoved { folders?.forgetAll() } }
        let body = { (folder: Int32, name: String) throws -> Int? in
            guard let info = StoreTree.entry(folder, name), let item = StoredItem(served: info) else { return nil }
            guard item.isDirectory else {
                guard unlinkat(folder, name, 0) == 0 else { throw POSIXFailure(errno: errno, operation: "delete") }
                return item.size
            }
            folderRemoved = true
            if !recursive {
                guard unlinkat(folder, name, AT_REMOVEDIR) == 0 else {
                    guard errno == ENOTEMPTY || errno == EEXIST else { throw POSIXFailure(errno: errno, operation: "delete a folder") }
                    throw ProblemDetails(
                        status: .conflict, detail: "the folder \"\(path)\" is not empty; set \"recursive\": true to delete it whole")
                }
                return 0
            }
            return try StoreTree.removeTree(in: folder, name)
        }
        if let folders { return try folders.withReachableParent(of: path, body) }
        return try self.withReachableParent(of: path, body)
    }

    public func copyItem(from source: StorePath, to destination: StorePath, recursive: Bool) async throws {
        let size: Int = try await self.threadPool.runIfActive {
            let size = try self.withReachableParent(of: source) { folder, name -> Int? in
                guard let item = StoreTree.item(folder, name) else { return nil }
                guard item.isDirectory else { return item.size }
                return recursive ? StoreTree.bytesUsed(in: folder, name) : 0
            }
            guard let size else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(source)\"") }
            return size
        }
        guard self.account(size, replacing: 0) else { throw self.quotaUsedUp }
        do {
            try await self.threadPool.runIfActive {
                try self.withBoth(source, destination) { from, fromName, to, toName in
                    try StoreTree.copy(fromName, in: from, to: toName, in: to, recursive: recursive)
                }
            }
        } catch {
            self.usedBytes.withLock { $0 -= size }
            throw error
        }
        try await self.syncFolders([destination.parent])
    }

    public func moveItem(from source: StorePath, to destination: StorePath) async throws {
        try await self.threadPool.runIfActive {
            try self.withBoth(source, destination) { from, fromName, to, toName in
                guard StoreTree.item(from, fromName) != nil else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(source)\"") }
                guard renameat(from, fromName, to, toName) == 0 else { throw POSIXFailure(errno: errno, operation: "move") }
            }
        }
        try await self.syncFolders([source.parent, destination.parent])
    }

    public func detach(_ path: StorePath, journal: StoreJournal?) async throws -> DetachedItem? {
        let entry = journal?.nextItem()
        let location = journal.map { $0.items + "/" + entry! } ?? self.stagedPath()
        return try await self.threadPool.runIfActive {
            try self.withReachableParent(of: path) { folder, name -> DetachedItem? in
                guard let info = StoreTree.entry(folder, name), let item = StoredItem(served: info) else { return nil }
                let size = item.isDirectory ? StoreTree.bytesUsed(in: folder, name) : item.size
                if let journal, let entry { try journal.record(.detached(path, item: entry)) }
                guard renameat(folder, name, AT_FDCWD, location) == 0 else { throw POSIXFailure(errno: errno, operation: "set aside") }
                return DetachedItem(location: location, size: size, isDirectory: item.isDirectory)
            }
        }
    }

    public func openJournal() throws -> StoreJournal {
        try StoreJournal(path: self.stagedPath() + ".journal", durable: self.durability == .fsync)
    }

    public func journalPath(_ path: StorePath) -> StorePath { path }

    public func reattach(_ item: DetachedItem, at path: StorePath) async throws {
        try await self.threadPool.runIfActive {
            let done: Bool? = try self.withReachableParent(of: path) { folder, name in
                guard Self.renameFree(AT_FDCWD, item.location, to: folder, name) else {
                    throw POSIXFailure(errno: errno, operation: "put back")
                }
                return true
            }
            guard done != nil else { throw ProblemDetails(status: .conflict, detail: "the folder of \"\(path)\" is gone") }
        }
    }

    public func purge(_ item: DetachedItem) async {
        _ = try? await self.threadPool.runIfActive {
            if item.isDirectory {
                _ = try StoreTree.removeTree(in: AT_FDCWD, item.location)
            } else {
                unlink(item.location)
            }
        }
        self.usedBytes.withLock { $0 -= item.size }
    }

    /// Runs `body` with the folders and names of `source` and `destination`.
    /// - Throws: 404 when the folder of `source` cannot be reached, 409 when that of `destination` cannot.
    private func withBoth(
        _ source: StorePath,
        _ destination: StorePath,
        in folders: StoreTree.FolderCache? = nil,
        _ body: (_ from: Int32, _ fromName: String, _ to: Int32, _ toName: String) throws -> Void
    ) throws {
        let folders = folders ?? StoreTree.FolderCache(self.tree)
        let done: Bool? = try folders.withReachableParent(of: source) { from, fromName in
            let done: Bool? = try folders.withReachableParent(of: destination) { to, toName in
                try body(from, fromName, to, toName)
                return true
            }
            guard done != nil else { throw ProblemDetails(status: .conflict, detail: "the folder of \"\(destination)\" does not exist") }
            return true
        }
        guard done != nil else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(source)\"") }
    }

    public func setModified(_ date: Date, of path: StorePath) async throws {
        let time = try LocalFileStore.timespec(date)
        try await self.threadPool.runIfActive {
            let times = [time, time]
            let set: Bool? = try self.withReachableParent(of: path) { folder, name in
                guard StoreTree.item(folder, name) != nil else { return nil }
                guard utimensat(folder, name, times, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw POSIXFailure(errno: errno, operation: "set the modification time")
                }
                return true
            }
            guard set != nil else { throw ProblemDetails(status: .notFound, detail: "nothing at \"\(path)\"") }
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
        let descriptor = self.tree.open(path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { throw POSIXFailure(errno: errno, operation: "open a folder") }
        let folder = try FolderHandle(descriptor: descriptor)
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
