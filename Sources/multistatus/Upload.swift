import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import MultiStatus
import MultiStatusClient
import NIOCore

/// `multistatus upload PATH… [--to DIR]`: files and folders in as few `POST /upload` requests as
/// the server's limits allow, each file with its SHA-256 (which the server checks) and its
/// modification time (which it keeps).
struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload files and folders, one status per file.",
        discussion: "A folder is sent with everything in it, under its own name, and the folders in it are made on the server. "
            + "The files are split into requests under the server's /limits. " + ExitStatus.help
    )

    @Argument(help: "Local files and folders.")
    var paths: [String]

    @Option(help: "The folder on the server to upload into (default: the top).")
    var to: String = ""

    @Flag(help: "Replace files that exist on the server.")
    var overwrite = false

    @Flag(help: "Make --to on the server when it is missing (the folders of a folder sent are made anyway).")
    var parents = false

    @OptionGroup var connection: ClientOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let (files, sentFolders) = try LocalFile.collect(self.paths)
        guard !files.isEmpty else { throw ValidationError("no file to upload in \(self.paths.joined(separator: ", "))") }
        let answer = try await self.connection.withClient { client in
            let limits = try await ServerLimits.read(client)
            let progress = Terminal.progress ? Progress(files: files.count, bytes: files.reduce(0) { $0 + $1.size }) : nil
            progress?.start()
            defer { progress?.stop() }
            var results: [ItemResult?] = files.map { file in
                file.size > limits.bytesPerFile
                    ? ItemResult(
                        id: .string(file.name),
                        problem: ProblemDetails(
                            status: .contentTooLarge, detail: "larger than the server's \(limits.bytesPerFile) bytes per file; not sent"))
                    : nil
            }
            var status = HTTPResponse.Status.multiStatus
            // The files in requests under the limits; their outcomes in the order given.
            func send(_ indices: [Int]) async throws -> [ItemResult] {
                var outcomes: [ItemResult] = []
                for request in Self.split(indices, of: files, limits: limits) {
                    let answer = try await self.send(
                        request.map { files[$0] }, parents: self.parents || sentFolders, client: client, progress: progress)
                    guard answer.items.count == request.count else {
                        throw MultiStatusError.malformedBody("sent \(request.count) files, got \(answer.items.count) back")
                    }
                    outcomes += answer.items
                    status = answer.status ?? status
                }
                return outcomes
            }
            let sent = files.indices.filter { results[$0] == nil }
            for (index, item) in zip(sent, try await send(sent)) { results[index] = item }
            let first = results.enumerated().map { index, item in
                item ?? ItemResult(id: .string(files[index].name), problem: ProblemDetails(status: .internalServerError, detail: "not sent"))
            }
            let retried = try await MultiStatusHTTPClient.retrying(first, policy: self.output.retryPolicy) { positions, _ in
                try await send(positions)
            }
            var merged = ReceivedMultiStatus(collection: .files, items: retried, summary: Summary(counting: retried))
            merged.status = status
            return merged
        }
        try self.output.finish(answer)
    }

    /// The files of `indices`, in order, in requests of at most the server's files and bytes.
    static func split(_ indices: [Int], of files: [LocalFile], limits: ServerLimits) -> [[Int]] {
        var requests: [[Int]] = []
        var current: [Int] = []
        var bytes = MultipartFiles.closingBytes
        for index in indices {
            let size = MultipartFiles.bytes(of: files[index])
            if !current.isEmpty && (current.count >= limits.filesPerRequest || bytes + size > limits.bytesPerRequest) {
                requests.append(current)
                current = []
                bytes = MultipartFiles.closingBytes
            }
            current.append(index)
            bytes += size
        }
        if !current.isEmpty { requests.append(current) }
        return requests
    }

    /// One `POST /upload` of `files`.
    private func send(_ files: [LocalFile], parents: Bool, client: MultiStatusHTTPClient, progress: Progress?) async throws -> ReceivedMultiStatus {
        var query = [("overwrite", self.overwrite), ("parents", parents)].filter(\.1).map { "\($0.0)=true" }
        let folder = FileOperationOptions.remote(self.to)
        if !folder.isEmpty {
            query.append("dir=" + (folder.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "+", "="])) ?? folder))
        }
        let body = MultipartFiles(files: files, progress: progress)
        return try await client.send(
            .POST, "/upload" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")),
            body: .stream(body, length: .known(Int64(body.length))),
            contentType: "multipart/form-data; boundary=\(MultipartFiles.boundary)", collection: .files,
            headers: [("Idempotency-Key", UUID().uuidString)])
    }
}

/// A local file to upload: where it is, the name it goes under, its size, time and SHA-256.
struct LocalFile: Sendable {
    var path: String
    /// The name on the server, below `--to`: its folders included (`photos/2026/a.jpg`).
    var name: String
    var size: Int
    var modified: Date
    var sha256: [UInt8]

    /// The files of `paths`, each folder walked (links are not followed); and whether a folder
    /// was given, whose folders must then be made on the server.
    static func collect(_ paths: [String]) throws -> (files: [LocalFile], folders: Bool) {
        var files: [LocalFile] = []
        var folders = false
        let manager = FileManager.default
        for path in paths {
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isFolder) else { throw ValidationError("\(path): no such file or folder") }
            let base = URL(fileURLWithPath: path).standardizedFileURL
            guard isFolder.boolValue else {
                files.append(try LocalFile(path: base.path, name: base.lastPathComponent))
                continue
            }
            folders = true
            let top = base.lastPathComponent
            guard let walker = manager.enumerator(atPath: base.path) else { throw ValidationError("\(path): cannot be read") }
            var inside: [String] = []
            while let relative = walker.nextObject() as? String {
                if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { inside.append(relative) }
            }
            for relative in inside.sorted() {
                files.append(try LocalFile(path: base.path + "/" + relative, name: top + "/" + relative))
            }
        }
        return (files, folders)
    }

    /// Reads the file's size, time and SHA-256.
    init(path: String, name: String) throws {
        self.path = path
        self.name = name
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        self.size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        self.modified = attributes[.modificationDate] as? Date ?? Date()
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("\(path): cannot be read") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        self.sha256 = Array(hasher.finalize())
    }
}

/// A `multipart/form-data` body of files, read from disk as it is sent: memory stays flat
/// whatever their size. Each part carries `Content-Digest` and `X-OC-Mtime`.
struct MultipartFiles: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    static let boundary = "multistatus-cli-7f3a9c2e51d04b8e"
    static let closing = "--\(boundary)--\r\n"
    static var closingBytes: Int { closing.utf8.count }

    let files: [LocalFile]
    let progress: Progress?

    /// The bytes of the whole body.
    var length: Int { self.files.reduce(Self.closingBytes) { $0 + Self.bytes(of: $1) } }

    /// The bytes `file` adds to a body: its part's head, its content and the line end after it.
    static func bytes(of file: LocalFile) -> Int { Self.head(of: file).utf8.count + file.size + 2 }

    /// The head of `file`'s part: the name in RFC 8187 form, with an ASCII fallback.
    static func head(of file: LocalFile) -> String {
        let fallback = String(file.name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let encoded = file.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-", ".", "_", "~"])) ?? fallback
        let digest = Data(file.sha256).base64EncodedString()
        let seconds = String(format: "%.6f", file.modified.timeIntervalSince1970)
        return "--\(boundary)\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)\r\n"
            + "Content-Type: application/octet-stream\r\nContent-Digest: sha-256=:\(digest):\r\nX-OC-Mtime: \(seconds)\r\n\r\n"
    }

    func makeAsyncIterator() -> Iterator { Iterator(files: self.files, progress: self.progress) }

    struct Iterator: AsyncIteratorProtocol {
        let files: [LocalFile]
        let progress: Progress?
        private var index = 0
        private var handle: FileHandle?
        private var left = 0
        private var closed = false

        init(files: [LocalFile], progress: Progress?) {
            self.files = files
            self.progress = progress
        }

        mutating func next() async throws -> ByteBuffer? {
            if let handle {
                guard self.left > 0 else {
                    try? handle.close()
                    self.handle = nil
                    self.index += 1
                    self.progress?.fileDone()
                    return ByteBuffer(string: "\r\n")
                }
                let chunk = try handle.read(upToCount: Swift.min(self.left, 256 << 10)) ?? Data()
                guard !chunk.isEmpty else { throw ValidationError("\(self.files[self.index].path) got shorter while it was sent") }
                self.left -= chunk.count
                self.progress?.sent(chunk.count)
                return ByteBuffer(bytes: chunk)
            }
            guard self.index < self.files.count else {
                if self.closed { return nil }
                self.closed = true
                return ByteBuffer(string: MultipartFiles.closing)
            }
            let file = self.files[self.index]
            guard let handle = FileHandle(forReadingAtPath: file.path) else { throw ValidationError("\(file.path): cannot be read") }
            self.handle = handle
            self.left = file.size
            return ByteBuffer(string: MultipartFiles.head(of: file))
        }
    }
}
