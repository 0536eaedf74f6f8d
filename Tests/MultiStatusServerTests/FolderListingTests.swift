import Foundation
import MultiStatusServer
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The store's folder listing, read by several pool threads at once and handed over in order.
@Suite struct FolderListingTests {
    /// A store over a fresh data folder holding `count` files in `big/`.
    private func withFolder(count: Int, _ body: (LocalFileStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dataDir in
            let store = try LocalFileStore(dataDirectory: dataDir, durability: .none, quotaBytes: nil, logger: testLogger())
            let folder = dataDir + "/files/big"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<count {
                #expect(FileManager.default.createFile(atPath: "\(folder)/file-\(index).txt", contents: Data(repeating: 1, count: index % 7)))
            }
            try await body(store, folder)
        }
    }

    /// The folder's names in `readdir` order.
    private func namesInFolderOrder(_ folder: String) throws -> [String] {
        let handle = try #require(opendir(folder))
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    @Test func everyEntryComesOnceInFolderOrderWithItsSize() async throws {
        try await withFolder(count: 1_500) { store, folder in
            var listed: [(name: String, size: Int)] = []
            try await store.forEachEntries(in: StorePath(relative: "big"), batchSize: 7, render: { batch in batch.map { ($0.name, $0.item.size) } }) {
                batch in
                listed += batch
            }
            #expect(listed.map(\.name) == (try self.namesInFolderOrder(folder)))
            #expect(listed.allSatisfy { entry in entry.size == Int(entry.name.dropFirst(5).dropLast(4))! % 7 })
        }
    }

    /// Workers stop when the reader falls behind: memory stays flat however large the folder.
    @Test func renderingStaysBoundedAheadOfASlowReader() async throws {
        try await withFolder(count: 2_000) { store, _ in
            let rendered = Atomic<Int>(0)
            var handed = 0
            var mostAhead = 0
            try await store.forEachEntries(
                in: StorePath(relative: "big"), batchSize: 10,
                render: { batch in
                    rendered.add(1, ordering: .relaxed)
                    return batch.count
                }
            ) { _ in
                handed += 1
                try await Task.sleep(for: .milliseconds(2))
                mostAhead = max(mostAhead, rendered.load(ordering: .relaxed) - handed)
            }
            #expect(handed >= 200)
            // Up to two batches per pool thread and two more wait to be handed over, plus one in
            // flight per thread and one read by the caller.
            let threads = ProcessInfo.processInfo.activeProcessorCount
            #expect(mostAhead <= 3 * threads + 3, "\(mostAhead) batches rendered ahead of the reader")
        }
    }

    /// A reader that fails (a client gone mid-listing) stops the workers before the folder is closed.
    @Test func aFailingReaderStopsTheWorkers() async throws {
        struct Gone: Error {}
        try await withFolder(count: 2_000) { store, _ in
            let rendered = Atomic<Int>(0)
            var handed = 0
            await #expect(throws: Gone.self) {
                try await store.forEachEntries(
                    in: StorePath(relative: "big"), batchSize: 10,
                    render: { batch in
                        rendered.add(1, ordering: .relaxed)
                        return batch.count
                    }
                ) { _ in
                    handed += 1
                    if handed == 3 { throw Gone() }
                }
            }
            let atReturn = rendered.load(ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(100))
            #expect(rendered.load(ordering: .relaxed) == atReturn, "a worker went on after the listing returned")
            #expect(atReturn < 200)
        }
    }

    @Test func aMissingFolderIsAnErrorAndAnEmptyOneListsNothing() async throws {
        try await withFolder(count: 0) { store, _ in
            var batches = 0
            try await store.forEachEntries(in: StorePath(relative: "big"), batchSize: 10, render: { $0.count }) { count in batches += count }
            #expect(batches == 0)
            await #expect(throws: (any Error).self) {
                try await store.forEachEntries(in: StorePath(relative: "nothing"), batchSize: 10, render: { $0.count }) { _ in }
            }
        }
    }
}
