import Foundation
import MultiStatus
import NIOCore

/// A folder of a store seen as a whole store: every path given to it is taken below `root`, so
/// nothing outside the folder can be named, and what it says about paths is in its own terms.
///
/// An account with a root gets its features' store through ``FileStore/view(under:)``.
struct RootedFileStore: FileStore {
    let base: any FileStore
    let root: StorePath

    private func full(_ path: StorePath) -> StorePath { self.root.appending(path) }

    /// Runs `body`, rewriting paths in a problem's detail (`"alice/a.txt"` → `"a.txt"`) to this view.
    private func inView<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch var problem as ProblemDetails {
            problem.detail = problem.detail.map(self.inView)
            throw problem
        }
    }

    private func inView(_ text: String) -> String {
        text.replacingOccurrences(of: "\"\(self.root)/", with: "\"")
    }

    func stage(for path: StorePath, refusingExisting: Bool, digest: Bool) async throws -> StagedFile {
        try await self.inView { try await self.base.stage(for: self.full(path), refusingExisting: refusingExisting, digest: digest) }
    }

    func commit(_ files: [(staged: any StagedFile, path: StorePath)], overwrite: Bool, all: Bool) async -> [Result<CommitOutcome, any Error>] {
        let outcomes = await self.base.commit(files.map { ($0.staged, self.full($0.path)) }, overwrite: overwrite, all: all)
        return outcomes.map { outcome in
            outcome.mapError { error in
                guard var problem = error as? ProblemDetails else { return error }
                problem.detail = problem.detail.map(self.inView)
                return problem
            }
        }
    }

    func discard(_ staged: StagedFile) async {
        await self.base.discard(staged)
    }

    func finish(_ files: [(staged: any StagedFile, modified: Date?)]) async -> [Result<FinishedFile, any Error>] {
        await self.base.finish(files)
    }

    func writeWhole(
        _ bytes: ByteBuffer,
        to path: StorePath,
        digest: [UInt8]?,
        check: @escaping @Sendable (_ existing: StoredItem?, _ parent: StoredItem?) throws -> Void
    ) async throws -> (outcome: CommitOutcome, etag: String) {
        try await self.inView { try await self.base.writeWhole(bytes, to: self.full(path), digest: digest, check: check) }
    }

    func syncFolders(_ folders: Set<StorePath>) async throws {
        try await self.base.syncFolders(Set(folders.map(self.full)))
    }

    func attributes(of path: StorePath) async throws -> StoredItem? {
        try await self.base.attributes(of: self.full(path))
    }

    func attributes(of paths: [StorePath]) async throws -> [StoredItem?] {
        try await self.base.attributes(of: paths.map(self.full))
    }

    func removeFile(at path: StorePath) async throws -> Bool {
        try await self.inView { try await self.base.removeFile(at: self.full(path)) }
    }

    func openItem(at path: StorePath) async throws -> OpenedItem? {
        try await self.base.openItem(at: self.full(path))
    }

    func remainingQuota() -> Int? {
        self.base.remainingQuota()
    }

    func usage() async throws -> (used: Int, available: Int) {
        try await self.base.usage()
    }

    func makeFolder(at path: StorePath) async throws {
        try await self.inView { try await self.base.makeFolder(at: self.full(path)) }
    }

    func removeItems(_ items: [(path: StorePath, recursive: Bool)]) async -> [Result<Bool, any Error>] {
        await self.base.removeItems(items.map { (self.full($0.path), $0.recursive) }).map { $0.mapError(self.inView) }
    }

    func moveItems(_ items: [(from: StorePath, to: StorePath)]) async -> [Result<Bool, any Error>] {
        await self.base.moveItems(items.map { (self.full($0.from), self.full($0.to)) }).map { $0.mapError(self.inView) }
    }

    /// A problem's paths in this view.
    private func inView(_ error: any Error) -> any Error {
        guard var problem = error as? ProblemDetails else { return error }
        problem.detail = problem.detail.map(self.inView)
        return problem
    }

    func removeItem(at path: StorePath, recursive: Bool) async throws -> Bool {
        try await self.inView { try await self.base.removeItem(at: self.full(path), recursive: recursive) }
    }

    func removeItem(at path: StorePath) async throws -> Bool {
        try await self.inView { try await self.base.removeItem(at: self.full(path)) }
    }

    func copyItem(from source: StorePath, to destination: StorePath, recursive: Bool) async throws {
        try await self.inView { try await self.base.copyItem(from: self.full(source), to: self.full(destination), recursive: recursive) }
    }

    func moveItem(from source: StorePath, to destination: StorePath) async throws {
        try await self.inView { try await self.base.moveItem(from: self.full(source), to: self.full(destination)) }
    }

    func detach(_ path: StorePath, journal: StoreJournal?) async throws -> DetachedItem? {
        try await self.inView { try await self.base.detach(self.full(path), journal: journal) }
    }

    func openJournal() throws -> StoreJournal {
        try self.base.openJournal()
    }

    func journalPath(_ path: StorePath) -> StorePath {
        self.base.journalPath(self.full(path))
    }

    func reattach(_ item: DetachedItem, at path: StorePath) async throws {
        try await self.inView { try await self.base.reattach(item, at: self.full(path)) }
    }

    func purge(_ item: DetachedItem) async {
        await self.base.purge(item)
    }

    func setModified(_ date: Date, of path: StorePath) async throws {
        try await self.base.setModified(date, of: self.full(path))
    }

    func forEachEntries<Rendered: Sendable>(
        in path: StorePath,
        batchSize: Int,
        render: @escaping @Sendable (_ batch: [(name: String, item: StoredItem)]) -> Rendered,
        _ body: (Rendered) async throws -> Void
    ) async throws {
        try await self.base.forEachEntries(in: self.full(path), batchSize: batchSize, render: render, body)
    }
}

extension FileStore {
    /// The store as an account with root `root` sees it: itself for the whole store.
    func view(under root: StorePath) -> any FileStore {
        root.components.isEmpty ? self : RootedFileStore(base: self, root: root)
    }
}
