import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import MultiStatus
import NIOCore

/// A ZIP of files and folders of the store, streamed as it is read (`GET /files/{folder}/?archive=zip`,
/// `POST /archives`): one chunk of one file in memory at a time, whatever the sizes.
///
/// The status line goes out before the first byte is read, so what cannot be read on the way (a
/// file gone, a read that fails) cannot change it: such files are named, with why, in a last
/// entry `MANIFEST-ERRORS.json`. A file whose read fails midway keeps the bytes read so far, and
/// is named there too.
struct FileArchive: Sendable {
    let store: any FileStore
    /// Deflate each file's content (with compress-nio's zlib); stored as it is otherwise.
    var deflate = false

    /// The compression a request asks for, `?compression=` or `"compression"`: `stored` (the default) or `deflate`.
    static func deflates(_ compression: String?) throws(ProblemDetails) -> Bool {
        switch compression {
        case nil, "stored": return false
        case "deflate": return true
        case let other?: throw ProblemDetails(status: .badRequest, detail: "compression is stored or deflate, not \(other)")
        }
    }

    /// What to put in the archive: a file or folder of the store, and its name in the archive
    /// (empty for a folder whose members go in at the top).
    struct Member: Sendable {
        var path: StorePath
        var name: String
    }

    /// The name of the entry that lists what could not be read.
    static let errorsEntry = "MANIFEST-ERRORS.json"
    /// The size of each read, on the thread pool.
    static let chunkBytes = 1 << 20

    /// A `200` whose body is the ZIP of `members`, offered for download as `filename`.
    func response(_ members: [Member], filename: String, head: Bool) -> Response {
        var headers: HTTPFields = [
            .contentType: "application/zip", .cacheControl: "no-store",
            .contentDisposition: "attachment; filename=\"\(filename.filter { $0.isASCII && $0 != "\"" && $0 != "\\" })\"; filename*=UTF-8''"
                + PercentEncoding.encodePath(filename),
        ]
        if head { return Response(status: .ok, headers: headers) }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var zip = ZipWriter()
                var errors: [JSONValue] = []
                for member in members {
                    try await self.add(member.path, as: member.name, to: &zip, errors: &errors, writer: &writer)
                }
                if !errors.isEmpty {
                    let listing = ByteBuffer(string: JSONValue.array(errors).jsonText + "\n")
                    try await writer.write(zip.begin(name: Self.errorsEntry, modified: Date(), size: listing.readableBytes, isFolder: false))
                    zip.wrote(count: listing.readableBytes, crc: ZipWriter.crc32(listing))
                    try await writer.write(listing)
                    try await writer.write(zip.end())
                }
                try await writer.write(zip.finish())
                try await writer.finish(nil)
            })
    }

    /// Adds the file or folder at `path` as `name`, a folder with everything in it.
    private func add(
        _ path: StorePath, as name: String, to zip: inout ZipWriter, errors: inout [JSONValue], writer: inout some ResponseBodyWriter
    ) async throws {
        func fail(_ error: any Error) {
            let detail = (error as? any ItemFailure)?.problem.detail ?? "it could not be read"
            errors.append(.object(["path": .string(name), "error": .string(detail)]))
        }
        let opened: OpenedItem?
        do {
            opened = try await self.store.openItem(at: path)
        } catch {
            return fail(error)
        }
        switch opened {
        case nil:
            fail(ProblemDetails(status: .notFound, detail: "it was gone when its turn came"))
        case .folder(let item):
            if !name.isEmpty {
                try await writer.write(zip.begin(name: name + "/", modified: item.modified, size: 0, isFolder: true))
                try await writer.write(zip.end())
            }
            var members: [String] = []
            do {
                try await self.store.forEachEntries(in: path, batchSize: 512, render: { $0.map(\.name) }) { members += $0 }
            } catch {
                return fail(error)
            }
            for member in members {
                guard let child = try? path.appending(member) else { continue }
                try await self.add(child, as: name.isEmpty ? member : name + "/" + member, to: &zip, errors: &errors, writer: &writer)
            }
        case .file(let file):
            let deflater = try (self.deflate && file.item.size > 0) ? Deflater() : nil
            try await writer.write(
                zip.begin(name: name, modified: file.item.modified, size: file.item.size, isFolder: false, deflated: deflater != nil))
            var offset = 0
            while offset < file.item.size {
                let (start, count, crc) = (offset, min(Self.chunkBytes, file.item.size - offset), zip.crc)
                let read: (chunk: ByteBuffer, crc: UInt32, out: [ByteBuffer])
                do {
                    // Read, checksum and compress in one job of the pool.
                    read = try await file.threadPool.runIfActive {
                        let chunk = try file.read(from: start, count: count)
                        return (chunk, ZipWriter.crc32(chunk, continuing: crc), try deflater?.deflate(chunk) ?? [chunk])
                    }
                } catch {
                    fail(ProblemDetails(status: .internalServerError, detail: "reading it failed after \(offset) bytes; the entry holds those"))
                    break
                }
                zip.wrote(count: read.chunk.readableBytes, crc: read.crc, written: read.out.reduce(0) { $0 + $1.readableBytes })
                for out in read.out { try await writer.write(out) }
                offset += read.chunk.readableBytes
            }
            if let deflater {
                let rest = try deflater.finish()
                zip.wrote(count: 0, crc: zip.crc, written: rest.reduce(0) { $0 + $1.readableBytes })
                for out in rest { try await writer.write(out) }
            }
            try await writer.write(zip.end())
        }
    }
}

/// One entry's raw deflate stream (compress-nio's zlib), fed chunk by chunk. Used by one task at
/// a time, in turn on the file-system pool.
private final class Deflater: @unchecked Sendable {
    private let compressor: ZlibCompressor
    private var window = ByteBuffer()

    init() throws {
        // The fastest level: an archive streams as it is read, and deflate at zlib's default
        // level is several times slower than the disk and the network here.
        self.compressor = try ZlibCompressor(algorithm: .deflate, configuration: .init(compressionLevel: .fastestCompression))
        self.window = ByteBufferAllocator().buffer(capacity: 256 << 10)
    }

    /// The compressed bytes `chunk` gives so far (zlib may keep some back until ``finish()``).
    func deflate(_ chunk: ByteBuffer) throws -> [ByteBuffer] {
        var input = chunk
        var out: [ByteBuffer] = []
        try input.compressStream(with: self.compressor, window: &self.window, flush: .no) { out.append($0) }
        return out
    }

    /// The last compressed bytes of the entry.
    func finish() throws -> [ByteBuffer] {
        var input = ByteBuffer()
        var out: [ByteBuffer] = []
        try input.compressStream(with: self.compressor, window: &self.window, flush: .finish) { out.append($0) }
        return out
    }
}

extension HTTPField.Name {
    static let contentDisposition = Self("Content-Disposition")!
}
