import Foundation
import MultiStatus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The undo log of an atomic batch of file operations, so that a crash in its middle leaves the
/// tree, after the next start, as it was before the batch, or, once the batch committed, as after.
///
/// Each change is recorded before it is made (a line of `<staging>/<prefix>-<n>.journal`), with
/// paths from the store's root; what the batch sets aside waits in `<n>.items/` beside it. A
/// store that starts replays, before anything else, the journals of processes no longer running:
/// one without its commit line is undone newest first, each undo done only where the tree shows
/// the change was made; then the journal and what was set aside are removed, as the sweep of
/// staged files would.
public final class StoreJournal: Sendable {
    /// One change, as recorded.
    enum Step: Sendable, Equatable {
        case made(StorePath)
        case moved(from: StorePath, to: StorePath)
        case copied(to: StorePath)
        /// `path` set aside as `item` (a name in the journal's items folder).
        case detached(StorePath, item: String)
    }

    let path: String
    /// Where what the batch sets aside waits.
    let items: String
    private let descriptor: Int32
    private let durable: Bool
    private let count = Mutex(0)

    /// Opens a new journal at `path` (`….journal`).
    init(path: String, durable: Bool) throws {
        self.path = path
        self.items = String(path.dropLast(".journal".count)) + ".items"
        self.durable = durable
        guard mkdir(self.items, 0o700) == 0 else { throw POSIXFailure(errno: errno, operation: "make a journal's folder") }
        self.descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard self.descriptor >= 0 else { throw POSIXFailure(errno: errno, operation: "open a journal") }
    }

    deinit {
        Glibc.close(self.descriptor)
    }

    /// A new name in the items folder, for the next item set aside.
    func nextItem() -> String {
        self.count.withLock { count in
            count += 1
            return String(count)
        }
    }

    /// Records `step`, before it is made.
    func record(_ step: Step) throws {
        try self.append(Self.line(step))
    }

    /// Records that every change was made: from here on the batch stands.
    func commit() throws {
        try self.append("commit")
    }

    /// Removes the journal and what it set aside (once the batch is undone or done).
    func remove() {
        unlink(self.path)
        _ = try? FileManager.default.removeItem(atPath: self.items)
    }

    private func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(self.descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw POSIXFailure(errno: errno == 0 ? EIO : errno, operation: "write a journal") }
        if self.durable && fdatasync(self.descriptor) != 0 { throw POSIXFailure(errno: errno, operation: "sync a journal") }
    }

    /// A step as a line: a JSON array of its tag and its paths (`["moved", "a", "b"]`).
    private static func line(_ step: Step) -> String {
        let values: [String] =
            switch step {
            case .made(let path): ["made", path.description]
            case .moved(let from, let to): ["moved", from.description, to.description]
            case .copied(let to): ["copied", to.description]
            case .detached(let path, let item): ["detached", path.description, item]
            }
        return JSONValue.array(values.map(JSONValue.string)).jsonText
    }

    /// The steps of a journal's text, and whether it committed. A line cut short by the crash
    /// is the last and is dropped: its change was not made.
    static func steps(of text: String) -> (steps: [Step], committed: Bool) {
        var steps: [Step] = []
        for line in text.split(separator: "\n") {
            if line == "commit" { return (steps, true) }
            guard case .array(let values)? = try? JSONValue.parse(Array(line.utf8)) else { continue }
            let texts = values.compactMap(\.stringValue)
            let paths = texts.dropFirst().map { try? StorePath(relative: $0) }
            switch (texts.first, paths.count) {
            case ("made", 1): if let path = paths[0] { steps.append(.made(path)) }
            case ("moved", 2): if let from = paths[0], let to = paths[1] { steps.append(.moved(from: from, to: to)) }
            case ("copied", 1): if let to = paths[0] { steps.append(.copied(to: to)) }
            case ("detached", 2): if let path = paths[0] { steps.append(.detached(path, item: texts[2])) }
            default: continue
            }
        }
        return (steps, false)
    }

    /// Undoes an uncommitted journal's steps in `tree`, newest first, each only where the tree
    /// shows it was made; `items` is its folder of what was set aside.
    static func undo(_ steps: [Step], items: String, in tree: StoreTree) {
        for step in steps.reversed() {
            switch step {
            case .made(let path), .copied(let path):
                _ = try? tree.withReachableParent(of: path) { folder, name -> Bool? in
                    guard let item = StoreTree.entry(folder, name) else { return nil }
                    if (item.st_mode & S_IFMT) == S_IFDIR { _ = try? StoreTree.removeTree(in: folder, name) } else { unlinkat(folder, name, 0) }
                    return true
                }
            case .moved(let from, let to):
                _ = try? tree.withReachableParent(of: to) { toFolder, toName -> Bool? in
                    try tree.withReachableParent(of: from) { fromFolder, fromName -> Bool? in
                        guard StoreTree.entry(toFolder, toName) != nil, StoreTree.entry(fromFolder, fromName) == nil else { return nil }
                        return renameat(toFolder, toName, fromFolder, fromName) == 0
                    }
                }
            case .detached(let path, let item):
                let location = items + "/" + item
                _ = try? tree.withReachableParent(of: path) { folder, name -> Bool? in
                    guard StoreTree.entry(folder, name) == nil else { return nil }
                    return renameat(AT_FDCWD, location, folder, name) == 0
                }
            }
        }
    }
}
