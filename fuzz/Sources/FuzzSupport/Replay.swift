import Foundation

/// What every harness shares: the libFuzzer entry point's bytes, and a replay driver for plain builds.
public enum Fuzz {
    /// The fuzzer's input as an array.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Runs `body` on every file named on the command line, or on every file inside a named folder.
    ///
    /// A plain build of a harness is this replay: the test command feeds it the corpus, so an input
    /// that once crashed a harness is tried again on every run. A failed check traps, as in the fuzzer.
    public static func replay(_ body: ([UInt8]) -> Void) -> Never {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: \(CommandLine.arguments[0]) CORPUS_FOLDER_OR_FILE...\n".utf8))
            exit(2)
        }
        var count = 0
        let manager = FileManager.default
        for path in paths {
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("\(path): no such file or folder\n".utf8))
                exit(2)
            }
            let files = isFolder.boolValue ? ((try? manager.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for file in files {
                guard let data = manager.contents(atPath: file) else { continue }
                body(Array(data))
                count += 1
            }
        }
        print("\(CommandLine.arguments[0].split(separator: "/").last ?? ""): \(count) inputs replayed, no failure")
        exit(0)
    }

    /// Fails the run, as a crash the fuzzer reports with its input.
    public static func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
        if !condition { fatalError(message(), file: file, line: line) }
    }
}
