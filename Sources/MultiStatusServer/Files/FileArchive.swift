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
            try await writer.write(zip.begin(name: name, modified: file.item.modified, size: file.item.size, isFolder: false))
            var offset = 0
            while offset < file.item.size {
                let (start, count, crc) = (offset, min(Self.chunkBytes, file.item.size - offset), zip.crc)
                let chunk: ByteBuffer
                let next: UInt32
                do {
                    (chunk, next) = try await file.threadPool.runIfActive {
                        let chunk = try file.read(from: start, count: count)
                        return (chunk, ZipWriter.crc32(chunk, continuing: crc))
                    }
                } catch {
                    fail(ProblemDetails(status: .internalServerError, detail: "reading it failed after \(offset) bytes; the entry holds those"))
                    break
                }
                zip.wrote(count: chunk.readableBytes, crc: next)
                try await writer.write(chunk)
                offset += chunk.readableBytes
            }
            try await writer.write(zip.end())
        }
    }
}

extension HTTPField.Name {
    static let contentDisposition = Self("Content-Disposition")!
}
