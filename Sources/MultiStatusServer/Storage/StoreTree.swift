import CMultiStatusSystem
import MultiStatus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The store's `files/` folder held open, and every path below it reached from that descriptor
/// without following a symbolic link anywhere on the way, the last name included.
///
/// The kernel resolves a path with `openat2` and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; where the
/// system lacks `openat2`, the path is walked one name at a time with `O_NOFOLLOW`. Either way a link
/// planted in the store, or a folder swapped for one between two requests, is met with `ELOOP` and
/// not followed. Operations then act on a name inside an open folder (`*at` calls, with
/// `AT_SYMLINK_NOFOLLOW` where the call would follow), so no string check stands between a request
/// and the rest of the machine.
///
/// Only regular files and folders are served: links, devices, FIFOs and sockets are not listed,
/// read or written through.
final class StoreTree: Sendable {
    /// How paths are resolved.
    enum Resolution: Sendable {
        /// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`: one system call per path.
        case kernel
        /// One `openat` with `O_NOFOLLOW` per name, for systems without `openat2`.
        case walk
    }

    /// The folder, opened with `multistatus_o_path`: it is never read, only resolved from.
    let descriptor: Int32
    let resolution: Resolution

    private static let resolveFlags = multistatus_resolve_beneath | multistatus_resolve_no_symlinks | multistatus_resolve_no_magiclinks

    /// Opens the folder at `path` (which may itself be a link: the operator chose it).
    /// - Parameter resolution: forced for tests; by default `openat2` when the system has it.
    init(path: String, resolution: Resolution? = nil) throws {
        let descriptor = Glibc.open(path, multistatus_o_path | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw POSIXFailure(errno: errno, operation: "open the store's folder") }
        self.descriptor = descriptor
        if let resolution {
            self.resolution = resolution
        } else {
            // ENOSYS before Linux 5.6; EPERM under seccomp filters that predate the call.
            let probe = multistatus_openat2(descriptor, ".", multistatus_o_path | O_CLOEXEC, 0, Self.resolveFlags)
            if probe >= 0 { close(probe) }
            self.resolution = probe >= 0 ? .kernel : .walk
        }
    }

    deinit {
        close(self.descriptor)
    }

    /// Opens `names` below the root with `flags` (`O_CLOEXEC` added), never through a link.
    /// - Returns: a new descriptor, or -1 with `errno` as open(2) sets it: `ELOOP` (or `ENOTDIR`)
    ///   when a link is on the way or at the end.
    func open(_ names: ArraySlice<String>, _ flags: Int32, mode: mode_t = 0) -> Int32 {
        let flags = flags | O_CLOEXEC
        switch self.resolution {
        case .kernel:
            let relative = names.isEmpty ? "." : names.joined(separator: "/")
            // openat2 refuses a mode without O_CREAT; without O_NOFOLLOW a link at the end is ELOOP.
            return multistatus_openat2(self.descriptor, relative, flags, (flags & O_CREAT) != 0 ? UInt64(mode) : 0, Self.resolveFlags)
        case .walk:
            return self.walk(names, flags, mode: mode)
        }
    }

    /// Opens the item at `path` with `flags`; see ``open(_:_:mode:)-(ArraySlice<String>,_,_)``.
    func open(_ path: StorePath, _ flags: Int32, mode: mode_t = 0) -> Int32 {
        self.open(path.components[...], flags, mode: mode)
    }

    private func walk(_ names: ArraySlice<String>, _ flags: Int32, mode: mode_t) -> Int32 {
        var folder = self.descriptor
        defer { if folder != self.descriptor { close(folder) } }
        for name in names.dropLast() {
            let next = openat(folder, name, multistatus_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                // A link where a folder should be is ENOTDIR here; openat2 says ELOOP, and so does this.
                if errno == ENOTDIR, Self.entry(folder, name).map({ $0.st_mode & S_IFMT }) == S_IFLNK { errno = ELOOP }
                return -1
            }
            if folder != self.descriptor { close(folder) }
            folder = next
        }
        let opened = openat(folder, names.last ?? ".", flags | O_NOFOLLOW, mode)
        // With multistatus_o_path, O_NOFOLLOW opens a link itself; openat2 answers ELOOP, and so does this.
        if opened >= 0, (flags & multistatus_o_path) != 0, Self.kind(of: opened) == S_IFLNK {
            close(opened)
            errno = ELOOP
            return -1
        }
        return opened
    }

    /// Runs `body` with the folder holding `path` (open, `multistatus_o_path`) and the last name of `path`.
    /// - Parameter creating: make missing folders on the way.
    /// - Throws: ``POSIXFailure`` when the folder cannot be reached: `ENOENT`, `ENOTDIR`, or `ELOOP`
    ///   for a link; with `creating`, a 409 naming a file or link in the way. A 405 for the root.
    func withParent<T>(of path: StorePath, creating: Bool = false, _ body: (_ folder: Int32, _ name: String) throws -> T) throws -> T {
        guard let name = path.name else { throw ProblemDetails(status: .methodNotAllowed, detail: "not allowed on the store's root") }
        let names = path.components.dropLast()
        if names.isEmpty { return try body(self.descriptor, name) }
        var folder = self.open(names, multistatus_o_path | O_DIRECTORY)
        if folder < 0 && errno == ENOENT && creating { folder = try self.makeFolders(names) }
        guard folder >= 0 else { throw POSIXFailure(errno: errno, operation: "open a folder") }
        defer { close(folder) }
        return try body(folder, name)
    }

    /// Makes each missing folder of `names` below the root, one at a time.
    /// - Returns: the last folder, open with `multistatus_o_path`.
    /// - Throws: 409 when a name on the way is a file or a link.
    func makeFolders(_ names: ArraySlice<String>) throws -> Int32 {
        var folder = self.descriptor
        var reached: [String] = []
        for name in names {
            reached.append(name)
            if mkdirat(folder, name, 0o755) != 0 && errno != EEXIST {
                let code = errno
                if folder != self.descriptor { close(folder) }
                throw POSIXFailure(errno: code, operation: "create a folder")
            }
            let next = openat(folder, name, multistatus_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if folder != self.descriptor { close(folder) }
            guard next >= 0, Self.kind(of: next) == S_IFDIR else {
                if next >= 0 { close(next) }
                throw ProblemDetails(status: .conflict, detail: "\"\(reached.joined(separator: "/"))\" is not a folder")
            }
            folder = next
        }
        return folder == self.descriptor ? dup(folder) : folder
    }

    /// What is at `name` in `folder`, the link itself for a link; `nil` when nothing is.
    static func entry(_ folder: Int32, _ name: UnsafePointer<CChar>) -> stat? {
        var info = stat()
        return fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
    }

    /// The attributes of `name` in `folder` when it is a file or folder; `nil` when nothing is there
    /// or it is something the store does not serve (a link, a device, a FIFO, a socket).
    static func item(_ folder: Int32, _ name: UnsafePointer<CChar>) -> StoredItem? {
        Self.entry(folder, name).flatMap(StoredItem.init(served:))
    }

    /// The attributes of the file or folder at `path`; `nil` when there is none, or a link (or
    /// anything else the store does not serve) is on the way or there.
    func item(at path: StorePath) throws -> StoredItem? {
        guard path.name != nil else {
            var info = stat()
            guard fstat(self.descriptor, &info) == 0 else { throw POSIXFailure(errno: errno, operation: "stat") }
            return StoredItem(info)
        }
        return try self.withReachableParent(of: path) { folder, name in Self.item(folder, name) }
    }

    /// Runs `body` with the folder of `path` and its name; `nil` when that folder cannot be reached
    /// (missing, or a link on the way).
    func withReachableParent<T>(of path: StorePath, _ body: (_ folder: Int32, _ name: String) throws -> T?) throws -> T? {
        do {
            return try self.withParent(of: path, body)
        } catch let failure as POSIXFailure where failure.isUnreachable {
            return nil
        }
    }

    /// Folders of one run of changes (``LocalFileStore/removeItems(_:)``, ``LocalFileStore/moveItems(_:)``),
    /// each opened once: a thousand moves from one folder to another open two folders, not two
    /// thousand. Used by one thread, for one job.
    ///
    /// A folder stays open only while nothing moves or deletes a folder: the run calls
    /// ``forgetAll()`` after each change of a folder, so that a later item names what is at its
    /// path then, not a folder that was moved away. Another request's change in the middle of the
    /// run is the same race as between any two system calls of one item, over the run's length.
    final class FolderCache {
        private let tree: StoreTree
        private var folders: [ArraySlice<String>: Int32] = [:]

        init(_ tree: StoreTree) {
            self.tree = tree
        }

        deinit {
            self.forgetAll()
        }

        /// As ``StoreTree/withReachableParent(of:_:)``, with the folder kept open for the next item.
        func withReachableParent<T>(of path: StorePath, _ body: (_ folder: Int32, _ name: String) throws -> T?) throws -> T? {
            guard let name = path.name else { throw ProblemDetails(status: .methodNotAllowed, detail: "not allowed on the store's root") }
            let names = path.components.dropLast()
            if names.isEmpty { return try body(self.tree.descriptor, name) }
            if let folder = self.folders[names] { return try body(folder, name) }
            let folder = self.tree.open(names, multistatus_o_path | O_DIRECTORY)
            guard folder >= 0 else {
                let failure = POSIXFailure(errno: errno, operation: "open a folder")
                if failure.isUnreachable { return nil }
                throw failure
            }
            self.folders[names] = folder
            return try body(folder, name)
        }

        /// Closes every folder held: one of them may have moved or gone.
        func forgetAll() {
            for folder in self.folders.values { close(folder) }
            self.folders.removeAll()
        }
    }

    /// The file type bits of what `descriptor` refers to.
    static func kind(of descriptor: Int32) -> mode_t {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// Calls `body` with the name of each entry of the folder `descriptor`, which it takes over and
    /// closes (opened `O_RDONLY | O_DIRECTORY`), skipping `.` and `..`. A name is valid until `body` returns.
    static func forEachName(closing descriptor: Int32, _ body: (UnsafePointer<CChar>) throws -> Void) throws {
        guard let folder = fdopendir(descriptor) else {
            let code = errno
            close(descriptor)
            throw POSIXFailure(errno: code, operation: "read a folder")
        }
        defer { closedir(folder) }
        while true {
            errno = 0
            guard let entry = readdir(folder) else {
                if errno != 0 { throw POSIXFailure(errno: errno, operation: "read a folder") }
                return
            }
            let name = (UnsafeRawPointer(entry) + Self.nameOffset).assumingMemoryBound(to: CChar.self)
            if name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0)) { continue }
            try body(name)
        }
    }

    /// Where `d_name` starts in a `dirent`. An entry is only as long as its name, so the 256-byte
    /// field is read in place, never copied whole (that can run past the end of the folder buffer).
    static let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!

    /// Bytes in the regular files below the folder `name` in `folder`, not counting through links.
    static func bytesUsed(in folder: Int32, _ name: UnsafePointer<CChar>) -> Int {
        let descriptor = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return 0 }
        var total = 0
        try? Self.forEachName(closing: descriptor) { entry in
            guard let info = Self.entry(descriptor, entry) else { return }
            switch info.st_mode & S_IFMT {
            case S_IFREG: total += Int(info.st_size)
            case S_IFDIR: total += Self.bytesUsed(in: descriptor, entry)
            default: break
            }
        }
        return total
    }

    /// Removes `name` in `folder`, a folder with everything in it. Links inside are removed, never followed.
    /// - Returns: the bytes of the regular files removed.
    static func removeTree(in folder: Int32, _ name: UnsafePointer<CChar>) throws -> Int {
        let descriptor = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw POSIXFailure(errno: errno, operation: "open a folder") }
        var removed = 0
        try Self.forEachName(closing: descriptor) { entry in
            guard let info = Self.entry(descriptor, entry) else { return }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                removed += try Self.removeTree(in: descriptor, entry)
            } else {
                guard unlinkat(descriptor, entry, 0) == 0 || errno == ENOENT else { throw POSIXFailure(errno: errno, operation: "delete") }
                if (info.st_mode & S_IFMT) == S_IFREG { removed += Int(info.st_size) }
            }
        }
        guard unlinkat(folder, name, AT_REMOVEDIR) == 0 else { throw POSIXFailure(errno: errno, operation: "delete a folder") }
        return removed
    }

    /// Copies the file or folder `name` in `from` to `target` in `to`, which must not exist: a folder
    /// with its files and folders when `recursive`; links and other entries that are not served are left out.
    static func copy(_ name: UnsafePointer<CChar>, in from: Int32, to target: UnsafePointer<CChar>, in to: Int32, recursive: Bool) throws {
        guard let info = Self.entry(from, name) else { throw POSIXFailure(errno: errno, operation: "copy") }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            try Self.copyFile(name, in: from, to: target, in: to)
        case S_IFDIR:
            guard mkdirat(to, target, 0o755) == 0 else { throw POSIXFailure(errno: errno, operation: "create a folder") }
            guard recursive else { return }
            let source = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let destination = openat(to, target, multistatus_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard source >= 0, destination >= 0 else {
                let code = errno
                if source >= 0 { close(source) }
                if destination >= 0 { close(destination) }
                throw POSIXFailure(errno: code, operation: "open a folder")
            }
            defer { close(destination) }
            try Self.forEachName(closing: source) { entry in
                guard let kind = Self.entry(source, entry).map({ $0.st_mode & S_IFMT }), kind == S_IFREG || kind == S_IFDIR else { return }
                try Self.copy(entry, in: source, to: entry, in: destination, recursive: true)
            }
        default:
            throw POSIXFailure(errno: ELOOP, operation: "copy")
        }
    }

    /// Copies a regular file's bytes and modification time; nothing is left at `target` when it fails.
    private static func copyFile(_ name: UnsafePointer<CChar>, in from: Int32, to target: UnsafePointer<CChar>, in to: Int32) throws {
        let input = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard input >= 0 else { throw POSIXFailure(errno: errno, operation: "open a file to copy") }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw POSIXFailure(errno: ELOOP, operation: "copy") }
        let output = openat(to, target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw POSIXFailure(errno: errno, operation: "create a copy") }
        defer { close(output) }
        do {
            try Self.copyBytes(from: input, to: output)
            // The same bytes: the digest the store keeps of them goes along (for Repr-Digest).
            if let digest = StoredDigest.read(from: input, size: Int(info.st_size)) {
                StoredDigest.write(digest, size: Int(info.st_size), to: output)
            }
            let times = [info.st_atim, info.st_mtim]
            guard futimens(output, times) == 0 else { throw POSIXFailure(errno: errno, operation: "set a copy's modification time") }
        } catch {
            unlinkat(to, target, 0)
            throw error
        }
    }

    /// Copies the rest of `input` to `output`: in the kernel where it can, else through a buffer.
    private static func copyBytes(from input: Int32, to output: Int32) throws {
        while true {
            let copied = multistatus_copy_file_range(input, output, 1 << 30)
            if copied > 0 { continue }
            if copied == 0 { return }
            if errno == EINTR { continue }
            guard [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP].contains(errno) else { throw POSIXFailure(errno: errno, operation: "copy") }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count == 0 { return }
            if count < 0 {
                if errno == EINTR { continue }
                throw POSIXFailure(errno: errno, operation: "read a file to copy")
            }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw POSIXFailure(errno: errno, operation: "write a copy")
                }
                offset += written
            }
        }
    }
}

extension POSIXFailure {
    /// True when the path could not be followed to its end: nothing there, a file where a folder
    /// should be, or a link on the way.
    var isUnreachable: Bool { self.errno == ENOENT || self.errno == ENOTDIR || self.errno == ELOOP }
}

extension StoredItem {
    /// The attributes of a file or folder; `nil` for anything else `stat` may describe.
    init?(served info: stat) {
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFDIR else { return nil }
        self.init(info)
    }
}
