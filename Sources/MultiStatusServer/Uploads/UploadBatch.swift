import Crypto
import Foundation
import MultiStatus
import MultiStatusHummingbird
import NIOCore

/// The files of one upload request: each refused on its own or staged, then committed together.
///
/// Files are staged as their bytes arrive and committed only when the request body is complete,
/// so a whole-request failure (a limit crossed, a malformed body) leaves nothing behind, and a
/// refused file never disturbs the others.
package final class UploadBatch {
    package struct Options {
        var folder: StorePath
        var overwrite: Bool
        var atomic: Bool
        /// Create the missing folders of a file's path; otherwise a missing folder is that file's 409.
        var parents: Bool
        /// Whether to keep a digest of what the request carries, for an `Idempotency-Key`'s
        /// fingerprint (``fingerprint``).
        var fingerprinting: Bool

        package init(folder: StorePath, overwrite: Bool, atomic: Bool, parents: Bool = false, fingerprinting: Bool = false) {
            self.folder = folder
            self.overwrite = overwrite
            self.atomic = atomic
            self.parents = parents
            self.fingerprinting = fingerprinting
        }
    }

    private enum Slot {
        case refused(ItemResult)
        case staging(id: JSONValue, path: StorePath, file: any StagedFile)
        /// All its bytes handed over, waiting to be finished with others (``finishWritten()``).
        case written(id: JSONValue, path: StorePath, file: any StagedFile, claims: FileClaims)
        case staged(id: JSONValue, path: StorePath, file: any StagedFile, finished: FinishedFile)
    }

    /// Small files are finished together, when this many wait or their bytes reach ``writtenBytesLimit``.
    static let writtenCountLimit = 256
    /// The bytes of the files waiting to be finished that make them finished at once. What the
    /// request holds of them in memory is less: what each has not yet written (under 1 MiB).
    static let writtenBytesLimit = 4 << 20
    /// The size from which a file being received is being written to disk (the local store writes
    /// blocks of 1 MiB; what is smaller waits in memory until the file ends).
    static let smallFileBytes = 1 << 20

    let store: any FileStore
    let limits: Limits
    let options: Options
    /// The files, of those about to be written, that a WebDAV lock holds, each with its 423.
    let lockRefusals: @Sendable ([StorePath]) async throws -> [StorePath: ProblemDetails]
    private var slots: [Slot] = []
    /// What the client says of the file being staged.
    private var claims = FileClaims()
    private var names: Set<StorePath> = []
    /// The files in ``Slot/written`` and their bytes.
    private var written = (count: 0, bytes: 0)
    /// What the request carries, when ``Options/fingerprinting``: each file's name, type and bytes,
    /// whether the file is staged or refused.
    private var carried: SHA256?

    package init(
        store: any FileStore, limits: Limits, options: Options,
        lockRefusals: @escaping @Sendable ([StorePath]) async throws -> [StorePath: ProblemDetails] = { _ in [:] }
    ) {
        self.store = store
        self.limits = limits
        self.options = options
        self.lockRefusals = lockRefusals
        self.carried = options.fingerprinting ? SHA256() : nil
    }

    /// Adds a file's name and declared type to what the request carries.
    func carry(name: String, contentType: String?) {
        self.carried?.update(data: Array("\u{0}file\u{0}\(name)\u{0}\(contentType ?? "")\u{0}".utf8))
    }

    /// Adds what the client says of a file (checksum, time) to what the request carries.
    func carry(_ claims: FileClaims) {
        self.carried?.update(data: Array("\u{0}claims\u{0}\(claims.sha256?.hex ?? "")\u{0}\(claims.modified?.timeIntervalSince1970 ?? -1)\u{0}".utf8))
    }

    /// Adds bytes of the current file to what the request carries.
    func carry(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { self.carried?.update(bufferPointer: $0) }
    }

    /// Whether the bytes of files refused too are to be handed to ``carry(_:)``.
    var isCarrying: Bool { self.carried != nil }

    package var fileCount: Int { self.slots.count }

    /// Starts a file. Returns false when the file is refused (its bytes are then skipped).
    /// - Throws: a 413 problem when the request carries more files than allowed.
    /// - Parameter claims: what the client says of the file, or why that could not be read (the file's 400).
    func begin(filename: String, contentType: String?, claims: Result<FileClaims, ProblemDetails> = .success(FileClaims())) async throws -> Bool {
        guard self.slots.count < self.limits.filesPerRequest else {
            throw self.tooManyFiles(count: nil)
        }
        let id = JSONValue.string(filename)
        switch claims {
        case .success(let claims): self.claims = claims
        case .failure(let problem):
            self.slots.append(.refused(ItemResult(id: id, problem: problem)))
            return false
        }
        let path: StorePath
        do {
            path = try self.options.folder.appending(names: filename)
        } catch {
            self.slots.append(.refused(ItemResult(id: id, problem: error)))
            return false
        }
        if let refusal = self.refusal(for: path, contentType: contentType) {
            self.slots.append(.refused(ItemResult(id: id, problem: refusal, fields: ["path": .string(path.description)])))
            return false
        }
        self.names.insert(path)
        do {
            // Staging checks that the name is free, so a file that would be refused is not streamed for nothing.
            self.slots.append(
                .staging(id: id, path: path, file: try await self.store.stage(for: path, refusingExisting: !self.options.overwrite, digest: true)))
        } catch {
            self.slots.append(.refused(ItemResult(id: id, problem: Self.problem(error), fields: ["path": .string(path.description)])))
            return false
        }
        return true
    }

    private func refusal(for path: StorePath, contentType: String?) -> ProblemDetails? {
        if self.names.contains(path) {
            return ProblemDetails(status: .conflict, detail: "\"\(path)\" appears twice in this request; the first one is kept")
        }
        if !self.limits.allowedTypes.isEmpty {
            let type = UploadBatch.mediaType(contentType: contentType, name: path.name ?? "")
            if !self.limits.allowedTypes.contains(where: { UploadBatch.matches(type, $0) }) {
                return ProblemDetails(
                    status: .unsupportedMediaType,
                    detail: "type \(type) is not allowed; allowed: \(self.limits.allowedTypes.joined(separator: ", "))"
                )
            }
        }
        return nil
    }

    /// Records a file refused before it started (a malformed entry).
    func refuse(id: JSONValue, _ problem: ProblemDetails) {
        self.slots.append(.refused(ItemResult(id: id, problem: problem)))
    }

    /// The 413 of a request with more files than allowed; `count` when it is known up front.
    func tooManyFiles(count: Int?) -> ProblemDetails {
        let limit = self.limits.filesPerRequest
        return .overLimit("a request may carry at most \(limit) files" + (count.map { "; this one has \($0)" } ?? ""), limit: limit)
    }

    /// Appends bytes to the current file; past the per-file limit or the quota the file is refused.
    /// - Returns: false once the current file is refused (further bytes of it are skipped).
    func append(_ buffer: ByteBuffer) async -> Bool {
        guard case .staging(let id, let path, let file) = self.slots.last else { return false }
        let size = file.size + buffer.readableBytes
        var refusal: ProblemDetails?
        if size > self.limits.bytesPerFile {
            refusal = .overLimit("\"\(path)\" is larger than \(self.limits.bytesPerFile) bytes", limit: self.limits.bytesPerFile)
        } else if let remaining = self.store.remainingQuota(), size > remaining {
            refusal = ProblemDetails(status: .insufficientStorage, detail: "the store's quota leaves \(remaining) bytes, not enough for \"\(path)\"")
        } else {
            // A file that grows past a small one's size goes to disk as it comes: the files that
            // wait go first, so that files take the disk's space in the order they came.
            if size >= Self.smallFileBytes && self.written.count > 0 { await self.finishWritten() }
            do {
                try await file.write(buffer)
                return true
            } catch {
                refusal = Self.problem(error)
            }
        }
        await self.store.discard(file)
        self.slots[self.slots.count - 1] = .refused(ItemResult(id: id, problem: refusal!, fields: ["path": .string(path.description)]))
        return false
    }

    /// Ends the current file: its bytes are flushed and hashed, ready to commit, unless their
    /// SHA-256 is not the one the client gave. A small file waits to be finished with others.
    func finishCurrent() async {
        guard case .staging(let id, let path, let file) = self.slots.last else { return }
        self.slots[self.slots.count - 1] = .written(id: id, path: path, file: file, claims: self.claims)
        self.written.count += 1
        self.written.bytes += file.size
        if self.written.count >= Self.writtenCountLimit || self.written.bytes >= Self.writtenBytesLimit {
            await self.finishWritten()
        }
    }

    /// Finishes the files that wait (``Slot/written``), in one call to the store.
    private func finishWritten() async {
        let waiting = self.slots.enumerated().compactMap { index, slot in
            if case .written(let id, let path, let file, let claims) = slot { (index, id, path, file, claims) } else { nil }
        }
        guard !waiting.isEmpty else { return }
        self.written = (0, 0)
        let finished = await self.store.finish(waiting.map { ($0.3, $0.4.modified) })
        for ((index, id, path, file, claims), outcome) in zip(waiting, finished) {
            do {
                let finished = try outcome.get()
                if let claimed = claims.sha256, let received = finished.sha256, claimed.hex != received {
                    throw FileClaims.mismatch(claimed: claimed, received: received)
                }
                self.slots[index] = .staged(id: id, path: path, file: file, finished: finished)
            } catch {
                await self.store.discard(file)
                self.slots[index] = .refused(ItemResult(id: id, problem: Self.problem(error)))
            }
        }
    }

    /// Refuses the current file because the body ended inside it.
    func abandonCurrent(reason: String) async {
        guard case .staging(let id, _, let file) = self.slots.last else { return }
        await self.store.discard(file)
        self.slots[self.slots.count - 1] = .refused(ItemResult(id: id, problem: ProblemDetails(status: .badRequest, detail: reason)))
    }

    /// Removes every staged file: nothing of the request is applied.
    package func discardAll() async {
        for slot in self.slots {
            switch slot {
            case .staging(_, _, let file), .written(_, _, let file, _), .staged(_, _, let file, _): await self.store.discard(file)
            case .refused: break
            }
        }
        self.slots = []
        self.written = (0, 0)
    }

    /// Commits the staged files in request order and gives every file's outcome. An atomic batch
    /// with a refused file, or one that failed to commit, commits none of them; the outcomes then
    /// say what each would have been, for the atomic report.
    package func commit() async throws -> [ItemResult] {
        guard !self.slots.isEmpty else {
            throw ProblemDetails(status: .badRequest, detail: "the request carries no file (a part with a filename, or an entry of \"files\")")
        }
        await self.finishWritten()
        try await self.refuseLocked()
        try await self.refuseWithoutFolder()
        if self.options.atomic, self.slots.contains(where: { if case .refused = $0 { true } else { false } }) {
            let items = self.slots.map(Self.pendingItem)
            await self.discardAll()
            return items
        }
        let staged = self.slots.compactMap { slot -> (staged: any StagedFile, path: StorePath)? in
            if case .staged(_, let path, let file, _) = slot { (file, path) } else { nil }
        }
        let results = await self.store.commit(staged, overwrite: self.options.overwrite, all: self.options.atomic)
        if self.options.atomic,
            let failed = results.firstIndex(where: { if case .failure(let error) = $0 { !(error is CommitNotApplied) } else { false } })
        {
            // Nothing was placed: the file that failed says why, the others what they would have been.
            var position = -1
            let items = self.slots.map { slot -> ItemResult in
                guard case .staged(let id, let path, _, _) = slot else { return Self.pendingItem(slot) }
                position += 1
                guard position == failed, case .failure(let error) = results[failed] else { return Self.pendingItem(slot) }
                return ItemResult(id: id, problem: Self.problem(error), fields: ["path": .string(path.description)])
            }
            await self.discardAll()
            return items
        }
        var outcomes = results.makeIterator()
        var items: [ItemResult] = []
        var folders: Set<StorePath> = []
        for slot in self.slots {
            switch slot {
            case .refused(let item):
                items.append(item)
            case .staging(let id, _, let file), .written(let id, _, let file, _):
                await self.store.discard(file)
                items.append(ItemResult(id: id, problem: ProblemDetails(status: .badRequest, detail: "the file did not end")))
            case .staged(let id, let path, let file, let finished):
                switch outcomes.next()! {
                case .success(let outcome):
                    folders.insert(path.parent)
                    items.append(
                        ItemResult(
                            id: id,
                            status: outcome == .created ? .created : .ok,
                            message: outcome == .created ? "Created" : "Replaced",
                            location: path.urlPath(under: "/files/"),
                            etag: finished.etag,
                            fields: ["size": .int(file.size), "sha256": .string(finished.sha256 ?? ""), "path": .string(path.description)]
                        )
                    )
                case .failure(let error):
                    await self.store.discard(file)
                    items.append(ItemResult(id: id, problem: Self.problem(error), fields: ["path": .string(path.description)]))
                }
            }
        }
        self.slots = []
        try await self.store.syncFolders(folders)
        return items
    }

    /// The paths of the staged files.
    private var stagedPaths: [StorePath] {
        self.slots.compactMap { slot -> StorePath? in if case .staged(_, let path, _, _) = slot { path } else { nil } }
    }

    /// Refuses each staged file `refusal` has a problem for, and removes what was staged for it.
    private func refuseStaged(_ refusal: (StorePath) -> ProblemDetails?) async {
        for index in self.slots.indices {
            guard case .staged(let id, let path, let file, _) = self.slots[index], let problem = refusal(path) else { continue }
            await self.store.discard(file)
            self.slots[index] = .refused(ItemResult(id: id, problem: problem, fields: ["path": .string(path.description)]))
        }
    }

    /// Refuses the staged files that a lock holds (423), before any is committed.
    private func refuseLocked() async throws {
        let refusals = try await self.lockRefusals(self.stagedPaths)
        if !refusals.isEmpty { await self.refuseStaged { refusals[$0] } }
    }

    /// Unless ``Options/parents``, refuses the staged files whose folder does not exist (409), in
    /// one look at every folder they go into.
    private func refuseWithoutFolder() async throws {
        guard !self.options.parents else { return }
        // The root is always there: an upload into it asks nothing of the disk.
        let folders = Array(Set(self.stagedPaths.map(\.parent))).filter { !$0.components.isEmpty }
        guard !folders.isEmpty else { return }
        let found = try await self.store.attributes(of: folders)
        let missing = Set(zip(folders, found).compactMap { folder, item in item?.isDirectory == true ? nil : folder })
        guard !missing.isEmpty else { return }
        await self.refuseStaged { path in
            missing.contains(path.parent)
                ? ProblemDetails(
                    status: .conflict, detail: "the folder \"\(path.parent)\" does not exist; ?parents=true creates the folders of a file's path")
                : nil
        }
    }

    /// What a replay of this upload under the same `Idempotency-Key` must carry the same: where it
    /// goes, and every file's name, type and bytes, as the request carried them (not the
    /// multipart framing around them, whose boundary a client may choose anew for a retry, nor
    /// what the store made of them).
    package var fingerprint: ByteBuffer {
        let digest = self.carried.map { $0.finalize().map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined() } ?? ""
        return ByteBuffer(
            string: "folder=\(self.options.folder)\noverwrite=\(self.options.overwrite)\nparents=\(self.options.parents)\nfiles=\(digest)\n")
    }

    /// What an item would report if the batch were applied: used to list the 424s of an atomic failure.
    private static func pendingItem(_ slot: Slot) -> ItemResult {
        switch slot {
        case .refused(let item): item
        case .staging(let id, _, let file), .written(let id, _, let file, _), .staged(let id, _, let file, _):
            ItemResult(id: id, status: .created, fields: ["size": .int(file.size)])
        }
    }

    static func problem(_ error: any Error) -> ProblemDetails {
        (error as? any ItemFailure)?.problem ?? ProblemDetails(status: .internalServerError, detail: "storing the file failed")
    }

    /// The media type of a file: the declared one, else by extension, else `application/octet-stream`.
    static func mediaType(contentType: String?, name: String) -> String {
        ContentType.essence(contentType) ?? FileTypes.mediaType(forName: name)
    }

    /// `image/png` matches `image/png`, `image/*` and `*/*`.
    static func matches(_ type: String, _ allowed: String) -> Bool {
        let allowed = allowed.lowercased()
        if allowed == "*/*" || allowed == type { return true }
        if allowed.hasSuffix("/*") { return type.hasPrefix(allowed.dropLast()) }
        return false
    }
}
