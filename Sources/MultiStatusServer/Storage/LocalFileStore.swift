import CMultiStatusSystem
import Crypto
import Foundation
import Logging
import MultiStatus
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The local-disk file store: files under `<data-dir>/files`, staged in `<data-dir>/tmp/uploads`.
///
/// Every path is reached from a descriptor of `files/` without following links (``StoreTree``):
/// a link planted in the store leads nowhere, and is neither listed nor read nor written through.
///
/// Staged files are in the same file system as the store, so a commit is one `rename` (or `link`
/// when an existing file must not be replaced): a reader never sees half a file, and a crash
/// leaves only temporary files, which are swept at start.
public final class LocalFileStore: FileStore {
    /// Whether data is synced to disk before a commit is reported.
    public enum Durability: String, Sendable, CaseIterable {
        /// The file and its folder are synced before the 201.
        case fsync
        /// Left to the kernel: faster, but a power loss may lose files reported as stored.
        case none
    }

    let root: String
    /// `files/`, held open: every path is resolved from it.
    let tree: StoreTree
    package let staging: String
    let onStored: (@Sendable (Int) -> Void)?
    let durability: Durability
    let quotaBytes: Int?
    let usedBytes: Mutex<Int>
    let threadPool = NIOThreadPool.singleton
    /// Threads for runs of deletes (``removeItems(_:)``), which wait on the disk more than they
    /// use a core: more of them than the pool of cores (``threadPool``) keeps the disk busier.
    var bulkPool: NIOThreadPool { Self.sharedBulkPool }
    private static let sharedBulkPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: bulkWays)
        pool.start()
        return pool
    }()
    /// Names staged files: random per store, then counted. Foundation's UUID opens and reads
    /// /dev/urandom every time, three system calls on the path of every small PUT.
    private let stagedPrefix = String(UInt64.random(in: .min ... .max), radix: 16)
    private let stagedCount = Atomic<UInt64>(0)

    /// Holds this store's lock in `tmp/owners`, which marks its staged files as in use.
    private let ownerDescriptor: Int32
    private let ownerPath: String

    /// Opens the store under `dataDirectory`, creating its folders and sweeping staged files that
    /// no running process owns.
    ///
    /// Several processes may share one data folder: each names its staged files with a prefix of
    /// its own and holds an exclusive `flock` on `tmp/owners/<prefix>` while it runs (the kernel
    /// releases it when the process dies). The sweep removes only the files of prefixes whose
    /// lock it can take, so a process starting never removes another's uploads in flight.
    /// - Parameter resolution: how paths are resolved below `files/`; by default `openat2` where the system has it.
    /// - Parameter onStored: told the size of each file an upload or `PUT` stores.
    init(
        dataDirectory: String,
        durability: Durability,
        quotaBytes: Int?,
        logger: Logger,
        resolution: StoreTree.Resolution?,
        onStored: (@Sendable (Int) -> Void)? = nil
    ) throws {
        self.onStored = onStored
        self.root = dataDirectory + "/files"
        self.staging = dataDirectory + "/tmp/uploads"
        self.durability = durability
        self.quotaBytes = quotaBytes
        let manager = FileManager.default
        let owners = dataDirectory + "/tmp/owners"
        try manager.createDirectory(atPath: self.root, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: self.staging, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: owners, withIntermediateDirectories: true)
        self.tree = try StoreTree(path: self.root, resolution: resolution)
        // Owned before the sweep and before any staged file: another process sweeping sees it held.
        self.ownerPath = owners + "/" + self.stagedPrefix
        self.ownerDescriptor = open(self.ownerPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard self.ownerDescriptor >= 0, flock(self.ownerDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw POSIXFailure(errno: errno, operation: "lock this process's staging name")
        }
        let swept = Self.sweepUnowned(staging: self.staging, owners: owners, keeping: self.stagedPrefix, tree: self.tree, logger: logger)
        if swept > 0 { logger.notice("swept unfinished uploads", metadata: ["count": "\(swept)"]) }
        self.usedBytes = Mutex(StoreTree.bytesUsed(in: self.tree.descriptor, "."))
    }

    /// Opens the store under `dataDirectory`; see ``init(dataDirectory:durability:quotaBytes:logger:resolution:)``.
    public convenience init(dataDirectory: String, durability: Durability, quotaBytes: Int?, logger: Logger) throws {
        try self.init(dataDirectory: dataDirectory, durability: durability, quotaBytes: quotaBytes, logger: logger, resolution: nil)
    }

    deinit {
        unlink(self.ownerPath)
        close(self.ownerDescriptor)
    }

    /// Removes the staged files, and the owner files, of prefixes no running process holds; first
    /// undoes in `tree` what their uncommitted journals (``StoreJournal``) record.
    /// - Returns: how many staged files were removed.
    private static func sweepUnowned(staging: String, owners: String, keeping own: String, tree: StoreTree, logger: Logger) -> Int {
        let manager = FileManager.default
        // nil: not checked yet; an open descriptor holding a dead owner's lock until the end, or -1.
        var dead: [Substring: Int32] = [:]
        var live: Set<Substring> = [Substring(own)]
        /// Whether `prefix` belongs to no running process. Asked only after one of its files was
        /// seen: a process locks its owner file before it stages anything.
        func isUnowned(_ prefix: Substring) -> Bool {
            if live.contains(prefix) { return false }
            if dead[prefix] != nil { return true }
            let descriptor = open(owners + "/" + prefix, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else {
                dead[prefix] = -1
                return true
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                close(descriptor)
                live.insert(prefix)
                return false
            }
            dead[prefix] = descriptor
            return true
        }
        var swept = 0
        let names = (try? manager.contentsOfDirectory(atPath: staging)) ?? []
        // Journals first: what they set aside is put back before the sweep takes it.
        for name in names where name.hasSuffix(".journal") && isUnowned(name.prefix { $0 != "-" }) {
            let path = staging + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let (steps, committed) = StoreJournal.steps(of: text)
            if !committed {
                StoreJournal.undo(steps, items: String(path.dropLast(".journal".count)) + ".items", in: tree)
                logger.notice("undid an atomic batch a crash interrupted", metadata: ["steps": "\(steps.count)"])
            }
        }
        for name in names {
            let prefix = name.prefix { $0 != "-" }
            if isUnowned(prefix) && (try? manager.removeItem(atPath: staging + "/" + name)) != nil { swept += 1 }
        }
        for name in (try? manager.contentsOfDirectory(atPath: owners)) ?? [] where isUnowned(Substring(name)) {
            unlink(owners + "/" + name)
        }
        for descriptor in dead.values where descriptor >= 0 { close(descriptor) }
        return swept
    }

    public func remainingQuota() -> Int? {
        self.quotaBytes.map { quota in max(0, quota - self.usedBytes.withLock { $0 }) }
    }

    /// A new name in the staging folder, unique to this store (created with `O_EXCL` all the same).
    func stagedPath() -> String {
        let number = self.stagedCount.add(1, ordering: .relaxed).newValue
        return self.staging + "/" + self.stagedPrefix + "-" + String(number, radix: 16)
    }

    /// The staged file is created with its first block, or as it is finished: a small file costs
    /// one hop to the thread pool, not two. The check of `path` is made then too.
    public func stage(for path: StorePath, refusingExisting: Bool, digest: Bool) async throws -> StagedFile {
        let staged = self.stagedPath()
        let create = { @Sendable () throws -> Int32 in
            if let existing = try self.existing(path) {
                if (existing.st_mode & S_IFMT) == S_IFDIR { throw ProblemDetails(status: .conflict, detail: "\"\(path)\" is a folder") }
                if refusingExisting { throw Self.exists(path) }
            }
            let fd = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw POSIXFailure(errno: errno, operation: "create a staged file") }
            return fd
        }
        return LocalStagedFile(path: staged, create: create, durable: self.durability == .fsync, digest: digest, threadPool: self.threadPool)
    }

    private static func exists(_ path: StorePath) -> ProblemDetails {
        ProblemDetails(status: .conflict, detail: "\"\(path)\" already exists; send overwrite=true to replace it")
    }

    /// What is at `path` before a write: `nil` when nothing is there or its folder is not (yet).
    /// - Throws: 409 when a link, or anything else the store does not serve, is there or on the way.
    func existing(_ path: StorePath) throws -> stat? {
        do {
            return try self.tree.withParent(of: path) { folder, name in
                guard let info = StoreTree.entry(folder, name) else { return nil }
                guard StoredItem(served: info) != nil else { throw Self.notServed(path) }
                return info
            }
        } catch let failure as POSIXFailure where failure.isUnreachable {
            if failure.errno == ELOOP { throw Self.notServed(path) }
            return nil
        }
    }

    /// The 409 of a write to a path that is, or passes through, a link or another entry that is not a file or folder.
    static func notServed(_ path: StorePath) -> ProblemDetails {
        ProblemDetails(status: .conflict, detail: "\"\(path)\" is, or is inside, a link or special file, which the store does not write through")
    }

    public func commit(_ files: [(staged: any StagedFile, path: StorePath)], overwrite: Bool, all: Bool) async -> [Result<CommitOutcome, any Error>] {
        if all {
            do {
                return try await self.threadPool.runIfActive { self.placeAll(files, overwrite: overwrite) }
            } catch {
                return files.map { _ in .failure(error) }
            }
        }
        // One thread-pool job for the whole request: thousands of small files cost one hop, not thousands.
        let placed: [Result<(CommitOutcome, replacedSize: Int), any Error>]
        do {
            placed = try await self.threadPool.runIfActive {
                files.map { file in Result { try self.place(file.staged, at: file.path, overwrite: overwrite) } }
            }
        } catch {
            return files.map { _ in .failure(error) }
        }
        var outcomes: [Result<CommitOutcome, any Error>] = []
        for (file, result) in zip(files, placed) {
            switch result {
            case .failure(let error):
                outcomes.append(.failure(error))
            case .success(let (outcome, replacedSize)):
                if !self.account(file.staged.size, replacing: replacedSize) {
                    outcomes.append(.failure(await self.withdrawOverQuota(file.path, size: file.staged.size, replaced: replacedSize)))
                } else {
                    self.onStored?(file.staged.size)
                    outcomes.append(.success(outcome))
                }
            }
        }
        return outcomes
    }

    /// Takes out a file of `size` bytes that went in, replacing `replaced` bytes, before a concurrent write
    /// was known to use up the quota.
    /// - Returns: the 507 problem to answer with.
    func withdrawOverQuota(_ path: StorePath, size: Int, replaced: Int) async -> ProblemDetails {
        _ = try? await self.removeFile(at: path)
        // removeFile took the new file's bytes off; the file it replaced is gone too.
        self.usedBytes.withLock { $0 += size - replaced }
        return self.quotaUsedUp
    }

    /// The 507 of a write the quota has no room for.
    var quotaUsedUp: ProblemDetails {
        ProblemDetails(status: .insufficientStorage, detail: "the store's quota of \(self.quotaBytes ?? 0) bytes is used up")
    }

    /// Counts `size` bytes replacing `replaced` against the quota; false when they do not fit.
    func account(_ size: Int, replacing replaced: Int) -> Bool {
        self.usedBytes.withLock { used in
            let next = used + size - replaced
            if let quota = self.quotaBytes, next > quota && size > replaced { return false }
            used = next
            return true
        }
    }

    /// Places every file or none; runs on the thread pool. Each file's quota is counted before it
    /// is placed, and a replaced file is kept at its staged name until all are in, so that it can
    /// be swapped back (RENAME_EXCHANGE) when a later file fails.
    private func placeAll(_ files: [(staged: any StagedFile, path: StorePath)], overwrite: Bool) -> [Result<CommitOutcome, any Error>] {
        var placed: [(staged: LocalStagedFile, path: StorePath, outcome: CommitOutcome, replaced: Int)] = []
        for (index, file) in files.enumerated() {
            do {
                guard let staged = file.staged as? LocalStagedFile else { throw ProblemDetails(status: .badRequest, detail: "nothing to commit") }
                let existing = try self.existing(file.path)
                let before = existing.map { ($0.st_mode & S_IFMT) == S_IFREG ? Int($0.st_size) : 0 } ?? 0
                guard self.account(staged.size, replacing: before) else { throw self.quotaUsedUp }
                let (outcome, replaced): (CommitOutcome, Int)
                do {
                    (outcome, replaced) = try self.place(staged, at: file.path, overwrite: overwrite, keepingReplaced: true)
                } catch {
                    self.usedBytes.withLock { $0 -= staged.size - before }
                    throw error
                }
                // Another writer may have changed the file since it was measured.
                self.usedBytes.withLock { $0 += before - replaced }
                placed.append((staged, file.path, outcome, replaced))
            } catch {
                for undo in placed.reversed() { self.takeBack(undo.staged, from: undo.path, outcome: undo.outcome, replaced: undo.replaced) }
                return files.indices.map { $0 == index ? .failure(error) : .failure(CommitNotApplied(failedIndex: index)) }
            }
        }
        for file in placed where file.outcome == .replaced { self.removeReplaced(file.staged.path, size: file.replaced) }
        for file in placed { self.onStored?(file.staged.size) }
        return placed.map { .success($0.outcome) }
    }

    /// Undoes one placed file of an all-or-nothing commit: a new file is removed, a replaced one swapped back.
    private func takeBack(_ staged: LocalStagedFile, from path: StorePath, outcome: CommitOutcome, replaced: Int) {
        try? self.tree.withParent(of: path) { folder, name in
            if outcome == .replaced, multistatus_renameat2(AT_FDCWD, staged.path, folder, name, Self.renameExchange) == 0 {
                unlink(staged.path)
                self.usedBytes.withLock { $0 += replaced - staged.size }
            } else if outcome == .created {
                unlinkat(folder, name, 0)
                self.usedBytes.withLock { $0 -= staged.size }
            }
        }
    }

    /// Moves one finished staged file to `path`; runs on the thread pool. With `keepingReplaced`, a file
    /// it replaces is left at the staged name (when the file system can swap names) for the caller.
    private func place(
        _ staged: any StagedFile,
        at path: StorePath,
        overwrite: Bool,
        keepingReplaced: Bool = false
    ) throws -> (CommitOutcome, replacedSize: Int) {
        guard let staged = staged as? LocalStagedFile, path.name != nil else {
            throw ProblemDetails(status: .badRequest, detail: "nothing to commit")
        }
        do {
            return try self.tree.withParent(of: path, creating: true) { folder, name in
                let existing = StoreTree.entry(folder, name)
                if let existing {
                    guard StoredItem(served: existing) != nil else { throw Self.notServed(path) }
                    if (existing.st_mode & S_IFMT) == S_IFDIR { throw ProblemDetails(status: .conflict, detail: "\"\(path)\" is a folder") }
                    if !overwrite { throw Self.exists(path) }
                }
                if overwrite {
                    let destination = Destination(folder: folder, name: name, path: path)
                    if let replacedSize = try Self.moveIntoPlace(staged.path, to: destination, existed: existing != nil) {
                        if !keepingReplaced { self.removeReplaced(staged.path, size: replacedSize) }
                        return (.replaced, replacedSize)
                    }
                    return (existing != nil ? .replaced : .created, existing.map { Int($0.st_size) } ?? 0)
                }
                // linkat refuses an existing name atomically: two uploads of one name get one 201 and one 409.
                guard linkat(AT_FDCWD, staged.path, folder, name, 0) == 0 else {
                    let code = errno
                    if code == EEXIST { throw Self.exists(path) }
                    throw POSIXFailure(errno: code, operation: "link into place")
                }
                unlink(staged.path)
                return (.created, 0)
            }
        } catch let failure as POSIXFailure where failure.errno == ELOOP {
            throw Self.notServed(path)
        }
    }

    /// A name in an open folder of the store, and the store path it stands for (for messages).
    struct Destination {
        let folder: Int32
        let name: String
        let path: StorePath
    }

    public func finish(_ files: [(staged: any StagedFile, modified: Date?)]) async -> [Result<FinishedFile, any Error>] {
        let local = files.compactMap { $0.staged as? LocalStagedFile }
        guard local.count == files.count else {
            var finished: [Result<FinishedFile, any Error>] = []
            for file in files {
                do {
                    finished.append(.success(try await file.staged.finish(modified: file.modified)))
                } catch {
                    finished.append(.failure(error))
                }
            }
            return finished
        }
        var settled: [Result<Void, any Error>] = []
        for file in local {
            do {
                settled.append(.success(try await file.settle()))
            } catch {
                settled.append(.failure(error))
            }
        }
        do {
            return try await self.threadPool.runIfActive { [settled] in
                zip(zip(local, files), settled).map { pair, ready in
                    Result { () throws -> FinishedFile in
                        try ready.get()
                        return try pair.0.finishNow(modified: pair.1.modified)
                    }
                }
            }
        } catch {
            return files.map { _ in .failure(error) }
        }
    }

    public func discard(_ staged: StagedFile) async {
        guard let staged = staged as? LocalStagedFile else { return }
        await staged.abandon()
    }

    public func syncFolders(_ folders: Set<StorePath>) async throws {
        guard self.durability == .fsync, !folders.isEmpty else { return }
        try await self.threadPool.runIfActive {
            for folder in folders {
                let fd = self.tree.open(folder, O_RDONLY | O_DIRECTORY)
                guard fd >= 0 else {
                    // Moved or deleted since (by a later item of a batch): the folder that held it is synced too.
                    let failure = POSIXFailure(errno: errno, operation: "open a folder to sync it")
                    if failure.isUnreachable { continue }
                    throw failure
                }
                defer { close(fd) }
                guard fsync(fd) == 0 else { throw POSIXFailure(errno: errno, operation: "sync a folder") }
            }
        }
    }

    /// One `stat`, made on the caller's thread as an event-driven server does: a hand-off to the
    /// thread pool and back costs ten times the call on a local file system.
    public func attributes(of path: StorePath) async throws -> StoredItem? {
        try self.tree.item(at: path)
    }

    public func attributes(of paths: [StorePath]) async throws -> [StoredItem?] {
        try paths.map { try self.tree.item(at: $0) }
    }

    /// Opened on the caller's thread, like ``attributes(of:)``: `O_NONBLOCK`, so that a FIFO
    /// cannot hold the thread, then measured by `fstat` on the same descriptor.
    public func openItem(at path: StorePath) async throws -> OpenedItem? {
        let descriptor = self.tree.open(path, O_RDONLY | O_NONBLOCK)
        guard descriptor >= 0 else {
            let failure = POSIXFailure(errno: errno, operation: "open")
            if failure.isUnreachable || failure.errno == ENXIO { return nil }
            throw failure
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, let item = StoredItem(served: info) else {
            close(descriptor)
            return nil
        }
        if item.isDirectory {
            close(descriptor)
            return .folder(item)
        }
        return .file(OpenedFile(descriptor: descriptor, item: item, threadPool: self.threadPool))
    }

    public func removeFile(at path: StorePath) async throws -> Bool {
        let removed: Int? = try await self.threadPool.runIfActive {
            try self.withReachableParent(of: path) { folder, name in
                guard let info = StoreTree.entry(folder, name), let item = StoredItem(served: info) else { return nil }
                if item.isDirectory {
                    throw ProblemDetails(status: .conflict, detail: "\"\(path)\" is a folder; only files are deleted here")
                }
                guard unlinkat(folder, name, 0) == 0 else {
                    if errno == ENOENT { return nil }
                    throw POSIXFailure(errno: errno, operation: "delete")
                }
                return item.size
            }
        }
        guard let removed else { return false }
        self.usedBytes.withLock { $0 -= removed }
        return true
    }

    /// Writes every byte of `buffer` to `fd`, retrying short and interrupted writes; runs on the thread pool.
    static func writeAll(_ buffer: ByteBuffer, to fd: Int32) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw POSIXFailure(errno: errno, operation: "write")
                }
                offset += written
            }
        }
    }

    /// See ``StoreTree/withReachableParent(of:_:)``.
    func withReachableParent<T>(of path: StorePath, _ body: (_ folder: Int32, _ name: String) throws -> T?) throws -> T? {
        try self.tree.withReachableParent(of: path, body)
    }

    /// Moves a staged file to `destination`, atomically replacing a file there.
    ///
    /// A file it replaces is swapped to the staged name (`renameat2` with `RENAME_EXCHANGE`) rather
    /// than removed, and its size returned: the caller removes it after answering
    /// (``removeReplaced(_:size:)``). A `rename` over it would free the old file's blocks inside the call
    /// (on ext4 after starting to write the new data back), most of a small PUT's time. Where the
    /// system cannot swap, or nothing is there, it is a plain `rename`, returning `nil`.
    /// - Parameter existed: whether a check just before found something at `destination`; when
    ///   not, a new name is tried first (one call instead of a failed swap and a rename).
    /// - Throws: 409 when `destination` is a folder; the `rename` error otherwise.
    static func moveIntoPlace(_ staged: String, to destination: Destination, existed: Bool) throws -> Int? {
        let (folder, name) = (destination.folder, destination.name)
        // When something took the name since the check, or the file system lacks the flag, the swap below follows.
        if !existed && multistatus_renameat2(AT_FDCWD, staged, folder, name, Self.renameNoReplace) == 0 { return nil }
        if multistatus_renameat2(AT_FDCWD, staged, folder, name, Self.renameExchange) == 0 {
            var old = stat()
            if lstat(staged, &old) == 0, (old.st_mode & S_IFMT) == S_IFREG { return Int(old.st_size) }
            // A folder (or a link) took the name since it was checked: put it back.
            _ = multistatus_renameat2(AT_FDCWD, staged, folder, name, Self.renameExchange)
            if (old.st_mode & S_IFMT) == S_IFDIR { throw ProblemDetails(status: .conflict, detail: "\"\(destination.path)\" is a folder") }
            throw Self.notServed(destination.path)
        }
        guard renameat(AT_FDCWD, staged, folder, name) == 0 else { throw POSIXFailure(errno: errno, operation: "rename into place") }
        return nil
    }

    /// Removes a replaced file of `size` bytes that ``moveIntoPlace(_:to:existed:)`` left at a staged
    /// name, without waiting: the answer does not depend on it, and a crash leaves it to the sweep at start.
    ///
    /// Called on an event loop, a small file is unlinked by that loop once the current work (the
    /// answer) is written, while the client reads it: handing it to the pool would wake another
    /// thread for a call of tens of microseconds. A large file's blocks take longer to free: the pool.
    func removeReplaced(_ staged: String, size: Int) {
        if size <= Self.replacedBytesFreedInline, let loop = MultiThreadedEventLoopGroup.currentEventLoop {
            loop.execute { unlink(staged) }
        } else {
            self.threadPool.submit { _ in unlink(staged) }
        }
    }

    /// Renames `name` in `from` to `target` in `to` unless something is there (`EEXIST`). Where the
    /// system cannot refuse to replace (no `renameat2`), it checks first.
    static func renameFree(_ from: Int32, _ name: String, to: Int32, _ target: String) -> Bool {
        if multistatus_renameat2(from, name, to, target, Self.renameNoReplace) == 0 { return true }
        guard errno == ENOSYS || errno == EINVAL else { return false }
        var info = stat()
        guard fstatat(to, target, &info, AT_SYMLINK_NOFOLLOW) != 0 else {
            errno = EEXIST
            return false
        }
        return renameat(from, name, to, target) == 0
    }

    /// The largest replaced file an event loop unlinks itself.
    static var replacedBytesFreedInline: Int { 256 << 10 }

    /// `renameat2` flags (linux/fs.h): fail if the target exists; swap source and target.
    private static var renameNoReplace: UInt32 { 1 }
    private static var renameExchange: UInt32 { 2 }

    /// The entity tag of what `stat` reported (see ``StoredItem/etag``).
    static func etag(_ info: stat) -> String { StoredItem(info).etag }

    /// Creates the folder `path` and those on the way, refusing to pass through a file or a link.
    func makeFolders(_ path: StorePath) throws {
        close(try self.tree.makeFolders(path.components[...]))
    }
}

extension StoredItem {
    /// The attributes `stat` reported.
    init(_ info: stat) {
        self.init(
            isDirectory: (info.st_mode & S_IFMT) == S_IFDIR,
            size: Int(info.st_size),
            modified: Date(info.st_mtim),
            changed: Date(info.st_ctim),
            inode: UInt64(info.st_ino),
            // Wrapping: a time past 2262 (set by any tool) does not fit in nanoseconds, and only names a version here.
            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec)
        )
    }
}

extension LocalFileStore {
    /// `date` as the system keeps times.
    /// - Throws: 400 for a time before 1970 or past 2255 (beyond 2262 nanoseconds do not fit in 64 bits).
    static func timespec(_ date: Date) throws(ProblemDetails) -> Glibc.timespec {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds >= 0, seconds < FileClaims.latestTime else {
            throw ProblemDetails(status: .badRequest, detail: "a modification time must be between 1970 and 2255")
        }
        let whole = seconds.rounded(.down)
        return Glibc.timespec(tv_sec: Int(whole), tv_nsec: min(999_999_999, Int((seconds - whole) * 1e9)))
    }
}

extension Date {
    init(_ time: timespec) {
        self.init(timeIntervalSince1970: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
    }
}

/// A staged upload on local disk. Used by one request task at a time; its mutable state is
/// behind a mutex so that it may be handed between tasks.
///
/// Bytes are gathered into large blocks; each block is hashed and written on the thread pool
/// while the request task goes on parsing the next bytes (one block in flight at a time).
final class LocalStagedFile: StagedFile {
    let path: String
    private let durable: Bool
    private let digest: Bool
    private let threadPool: NIOThreadPool
    /// Checks the destination and creates the staged file; run on the thread pool with the first write.
    private let create: @Sendable () throws -> Int32
    private struct State {
        /// -1 until the first write creates the file, and again once it is closed.
        var fd: Int32 = -1
        var created = false
        var size = 0
        var pending = ByteBuffer()
        var inFlight: Task<Void, any Error>?
    }
    private let state: Mutex<State>
    /// Touched only by the block jobs, one at a time, so the parsing task never waits on a hash.
    private let hasher = Mutex(SHA256())
    /// Bytes gathered before one write(2): the multipart parser hands over many small slices.
    private static let blockSize = 1 << 20

    init(path: String, create: @escaping @Sendable () throws -> Int32, durable: Bool, digest: Bool, threadPool: NIOThreadPool) {
        self.path = path
        self.create = create
        self.durable = durable
        self.digest = digest
        self.threadPool = threadPool
        self.state = Mutex(State())
    }

    /// The staged file's descriptor, created by the first call; runs on the thread pool.
    private func descriptor() throws -> Int32 {
        if let fd = self.state.withLock({ $0.created ? $0.fd : nil }) { return fd }
        let fd = try self.create()
        self.state.withLock { state in
            state.fd = fd
            state.created = true
        }
        return fd
    }

    var size: Int { self.state.withLock { $0.size } }

    func write(_ buffer: ByteBuffer) async throws {
        let block: ByteBuffer? = self.state.withLock { state in
            state.size += buffer.readableBytes
            var incoming = buffer
            state.pending.writeBuffer(&incoming)
            guard state.pending.readableBytes >= Self.blockSize else { return nil }
            defer { state.pending = ByteBuffer() }
            return state.pending
        }
        if let block { try await self.startBlock(block) }
    }

    /// Waits for the block in flight, then hands `block` to the thread pool: hashed on one thread
    /// while written on another (SHA-256 takes three times as long as the write into the page
    /// cache, so in turn they would cost the sum).
    private func startBlock(_ block: ByteBuffer) async throws {
        try await self.state.withLock { $0.inFlight }?.value
        let task = Task {
            async let hashed: Void = self.digest ? self.threadPool.runIfActive { self.hash(block) } : ()
            try await self.threadPool.runIfActive { try LocalFileStore.writeAll(block, to: try self.descriptor()) }
            try await hashed
        }
        self.state.withLock { $0.inFlight = task }
    }

    /// Adds `block` to the digest; the blocks come one at a time, in order.
    private func hash(_ block: ByteBuffer) {
        self.hasher.withLock { hasher in block.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) } }
    }

    /// Hashes and writes one block; runs on the thread pool.
    private func hashAndWrite(_ block: ByteBuffer) throws {
        let fd = try self.descriptor()
        if self.digest { self.hash(block) }
        try LocalFileStore.writeAll(block, to: fd)
    }

    /// Writes what is left, keeps the digest, sets the time, syncs and closes the file in one job:
    /// a small file costs one hop.
    func finish(modified: Date?) async throws -> FinishedFile {
        try await self.settle()
        return try await self.threadPool.runIfActive { try self.finishNow(modified: modified) }
    }

    /// Waits for the block in flight, if any: what ``finishNow(modified:)`` needs first.
    func settle() async throws {
        try await self.state.withLock { $0.inFlight }?.value
    }

    /// The work of ``finish(modified:)`` once settled; runs on the thread pool.
    func finishNow(modified: Date?) throws -> FinishedFile {
        let rest = self.state.withLock { state in
            defer { state.pending = ByteBuffer() }
            return state.pending
        }
        if rest.readableBytes > 0 { try self.hashAndWrite(rest) } else { _ = try self.descriptor() }
        let fd = self.state.withLock { state in
            defer { state.fd = -1 }
            return state.fd
        }
        defer { close(fd) }
        if let modified {
            let time = try LocalFileStore.timespec(modified)
            guard futimens(fd, [time, time]) == 0 else { throw POSIXFailure(errno: errno, operation: "set the modification time") }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "stat a staged file") }
        var digest: [UInt8]?
        if self.digest {
            digest = Array(self.hasher.withLock { $0.finalize() })
            StoredDigest.write(digest!, size: Int(info.st_size), to: fd)
        }
        if self.durable && fsync(fd) != 0 { throw POSIXFailure(errno: errno, operation: "sync a file") }
        return FinishedFile(sha256: digest?.hex, etag: LocalFileStore.etag(info))
    }

    func abandon() async {
        _ = try? await self.state.withLock { $0.inFlight }?.value
        let (fd, created) = self.state.withLock { state in
            defer { state.fd = -1 }
            return (state.fd, state.created)
        }
        guard created else { return }
        let path = self.path
        try? await self.threadPool.runIfActive {
            if fd >= 0 { close(fd) }
            unlink(path)
        }
    }
}

/// A failed system call, mapped to the item status a client should see.
struct POSIXFailure: ItemFailure, CustomStringConvertible {
    let errno: Int32
    let operation: String

    var description: String { "\(self.operation): \(String(cString: strerror(self.errno)))" }

    var problem: ProblemDetails {
        switch self.errno {
        case ENOSPC, EDQUOT:
            ProblemDetails(status: .insufficientStorage, detail: "the store is full (\(self.description))")
        case ENAMETOOLONG:
            ProblemDetails(status: .badRequest, detail: "the path is too long")
        case ELOOP:
            ProblemDetails(status: .conflict, detail: "a link is on the way, and the store does not follow links")
        case ENOENT, ENOTDIR:
            ProblemDetails(status: .conflict, detail: "a folder on the way does not exist")
        default:
            ProblemDetails(status: .internalServerError, detail: "storage failed to \(self.operation)")
        }
    }
}
