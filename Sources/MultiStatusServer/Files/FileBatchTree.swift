import MultiStatus

/// What an item of a file batch sees at a path.
struct PathLook: Sendable {
    var isDirectory: Bool
    /// The entity tag; `nil` for what the batch itself makes (a planned copy or folder), whose tag
    /// is known only once it is made.
    var etag: String?

    init(isDirectory: Bool, etag: String?) {
        self.isDirectory = isDirectory
        self.etag = etag
    }

    init(_ item: StoredItem) {
        self.init(isDirectory: item.isDirectory, etag: item.etag)
    }
}

/// The tree the items of `POST /file-operations` are checked against and applied to
/// (``FileOperationBatch``). The same checks run on each of three:
/// - ``DirectTree``: each change is made at once, with its properties and locks (a partial batch);
/// - ``PlannedTree``: each change is only noted, over the tree as it is, so that every item of an
///   atomic batch is checked, against the tree the items before it leave, before any is applied;
/// - ``JournaledTree``: each change is journaled, then made in a way that can be undone (an
///   atomic batch, once its plan holds).
protocol FileBatchTree {
    var operations: FileOperations { get }
    /// What is at each of `paths`, `nil` where nothing is.
    func look(_ paths: [StorePath]) async throws -> [PathLook?]
    /// True when the folder at `path` has anything in it.
    func hasMembers(_ path: StorePath) async throws -> Bool
    /// Makes a folder at `path`, found free with its folder there.
    mutating func makeFolder(at path: StorePath) async throws
    /// Deletes what is at `path`, found there, with what is below it.
    mutating func remove(_ path: StorePath) async throws
    /// Moves or copies `source`, found there, to `destination`, found free with its folder there.
    mutating func transfer(from source: StorePath, to destination: StorePath, move: Bool, recursive: Bool) async throws
}

extension FileBatchTree {
    func look(_ paths: [StorePath]) async throws -> [PathLook?] {
        try await self.operations.store.attributes(of: paths).map { $0.map(PathLook.init) }
    }

    func hasMembers(_ path: StorePath) async throws -> Bool {
        try await self.operations.hasMembers(path)
    }
}

/// Changes made at once, properties and locks with them: a partial batch.
struct DirectTree: FileBatchTree {
    let operations: FileOperations

    func makeFolder(at path: StorePath) async throws {
        try await self.operations.makeFolder(at: path)
    }

    func remove(_ path: StorePath) async throws {
        try await self.operations.remove(at: path)
    }

    func transfer(from source: StorePath, to destination: StorePath, move: Bool, recursive: Bool) async throws {
        if move {
            try await self.operations.move(from: source, to: destination)
        } else {
            try await self.operations.copy(from: source, to: destination, recursive: recursive)
        }
    }
}

/// The changes of an atomic batch, each noted only: what a path will be once the changes before
/// it are made, read through them from the tree as it is.
struct PlannedTree: FileBatchTree {
    let operations: FileOperations

    private enum Change {
        case removed(StorePath)
        case made(StorePath)
        case moved(from: StorePath, to: StorePath)
        case copied(from: StorePath, to: StorePath, recursive: Bool)

        /// What the change puts in the tree.
        var destination: StorePath? {
            switch self {
            case .removed: nil
            case .made(let path), .moved(_, let path), .copied(_, let path, _): path
            }
        }
    }

    /// Where what will be at a path comes from.
    private enum Origin: Equatable {
        case absent
        /// A folder the batch makes, empty when made.
        case madeFolder
        /// What is on disk now at `path`; a copy's tag will differ.
        case disk(StorePath, copied: Bool)
    }

    private var changes: [Change] = []

    init(operations: FileOperations) {
        self.operations = operations
    }

    /// Follows `path` back through the changes, newest first, to where it comes from.
    private func origin(of path: StorePath) -> Origin {
        var path = path
        var copied = false
        for change in self.changes.reversed() {
            switch change {
            case .removed(let removed):
                if path == removed || path.isBelow(removed) { return .absent }
            case .made(let made):
                if path == made { return .madeFolder }
                if path.isBelow(made) { return .absent }
            case .moved(let from, let to):
                if let below = path.relative(to: to) {
                    path = from.appending(below)
                } else if path.relative(to: from) != nil {
                    return .absent
                }
            case .copied(let from, let to, let recursive):
                if let below = path.relative(to: to) {
                    guard below.components.isEmpty || recursive else { return .absent }
                    path = from.appending(below)
                    copied = true
                }
            }
        }
        return .disk(path, copied: copied)
    }

    func look(_ paths: [StorePath]) async throws -> [PathLook?] {
        let origins = paths.map(self.origin(of:))
        var onDisk: [StorePath] = []
        for case .disk(let path, _) in origins { onDisk.append(path) }
        var found = try await self.operations.store.attributes(of: onDisk).makeIterator()
        return origins.map { origin in
            switch origin {
            case .absent: return nil
            case .madeFolder: return PathLook(isDirectory: true, etag: nil)
            case .disk(_, let copied):
                guard let item = found.next() ?? nil else { return nil }
                return PathLook(isDirectory: item.isDirectory, etag: copied ? nil : item.etag)
            }
        }
    }

    func hasMembers(_ path: StorePath) async throws -> Bool {
        // Something the batch puts in it, still there.
        for case let destination? in self.changes.map(\.destination) where destination.isBelow(path) {
            let member = try path.appending(destination.components[path.components.count])
            if self.origin(of: member) != .absent { return true }
        }
        // Something in it now that the batch leaves there.
        guard case .disk(let source, _) = self.origin(of: path) else { return false }
        struct Found: Error {}
        do {
            try await self.operations.store.forEachEntries(in: source, batchSize: 256, render: { $0.map(\.name) }) { names in
                for name in names where self.origin(of: try path.appending(name)) != .absent { throw Found() }
            }
            return false
        } catch is Found {
            return true
        }
    }

    mutating func makeFolder(at path: StorePath) async throws {
        self.changes.append(.made(path))
    }

    mutating func remove(_ path: StorePath) async throws {
        self.changes.append(.removed(path))
    }

    mutating func transfer(from source: StorePath, to destination: StorePath, move: Bool, recursive: Bool) async throws {
        self.changes.append(move ? .moved(from: source, to: destination) : .copied(from: source, to: destination, recursive: recursive))
    }
}

/// The changes of an atomic batch whose plan held: each journaled (``StoreJournal``) before it is
/// made, so that a crash is undone at the next start; a delete, or a destination replaced, only
/// set aside; properties and locks left as they are until ``finish()``. ``undo()`` takes it all
/// back, newest first.
struct JournaledTree: FileBatchTree {
    let operations: FileOperations
    private let log: StoreJournal
    private var applied: [Applied] = []

    /// What a change did, to undo it or to finish it.
    private enum Applied {
        case detached(StorePath, DetachedItem)
        case moved(from: StorePath, to: StorePath)
        case copied(from: StorePath, to: StorePath, recursive: Bool)
        case made(StorePath)
    }

    init(operations: FileOperations) throws {
        self.operations = operations
        self.log = try operations.store.openJournal()
    }

    private var store: any FileStore { self.operations.store }

    mutating func makeFolder(at path: StorePath) async throws {
        try self.log.record(.made(self.store.journalPath(path)))
        try await self.store.makeFolder(at: path)
        self.applied.append(.made(path))
    }

    mutating func remove(_ path: StorePath) async throws {
        if let detached = try await self.store.detach(path, journal: self.log) { self.applied.append(.detached(path, detached)) }
    }

    mutating func transfer(from source: StorePath, to destination: StorePath, move: Bool, recursive: Bool) async throws {
        let target = self.store.journalPath(destination)
        try self.log.record(move ? .moved(from: self.store.journalPath(source), to: target) : .copied(to: target))
        if move {
            try await self.store.moveItem(from: source, to: destination)
            self.applied.append(.moved(from: source, to: destination))
        } else {
            try await self.store.copyItem(from: source, to: destination, recursive: recursive)
            self.applied.append(.copied(from: source, to: destination, recursive: recursive))
        }
    }

    /// Undoes what was applied, newest first, and drops the journal.
    func undo() async throws {
        for applied in self.applied.reversed() {
            switch applied {
            case .detached(let path, let item): try await self.store.reattach(item, at: path)
            case .moved(let from, let to): try await self.store.moveItem(from: to, to: from)
            case .copied(_, let to, _), .made(let to): _ = try await self.store.removeItem(at: to)
            }
        }
        self.log.remove()
    }

    /// Commits the journal, brings properties and locks along with what was applied, in its order,
    /// deletes what was set aside, and drops the journal.
    func finish() async throws {
        try self.log.commit()
        for applied in self.applied {
            switch applied {
            case .detached(let path, _): try await self.operations.forget(path)
            case .moved(let from, let to): try await self.operations.carry(from: from, to: to, move: true, recursive: true)
            case .copied(let from, let to, let recursive): try await self.operations.carry(from: from, to: to, move: false, recursive: recursive)
            case .made: break
            }
        }
        for case .detached(_, let item) in self.applied { await self.store.purge(item) }
        self.log.remove()
    }
}
