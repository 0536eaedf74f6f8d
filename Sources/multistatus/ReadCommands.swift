import ArgumentParser
import AsyncHTTPClient
import Foundation
import HTTPTypes
import MultiStatus
import MultiStatusClient
import NIOCore
import NIOHTTP1

/// `multistatus ls [PATH] [--long]`: a folder's members, from a WebDAV PROPFIND of depth 1.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List a folder on the server (a PROPFIND of depth 1).",
        discussion: "Folders end with '/'. Exit status: 0 listed; 1 the request failed (a missing folder, no connection).")

    @Argument(help: "A folder on the server (default: the top).")
    var path: String = ""

    @Flag(name: [.short, .long], help: "Size and modification time too.")
    var long = false

    @Flag(help: "Write the server's 207 body as JSON items, and nothing else.")
    var json = false

    @OptionGroup var connection: ClientOptions

    static let body =
        #"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>"#

    func run() async throws {
        let folder = FileOperationOptions.remote(self.path)
        let href = "/dav/" + (folder.isEmpty ? "" : (folder.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? folder) + "/")
        let answer = try await self.connection.withClient { client in
            try await client.send(
                .RAW(value: "PROPFIND"), href, body: Array(Self.body.utf8), contentType: "application/xml", format: .xml,
                headers: [("Depth", "1")])
        }
        if self.json {
            print(OutputOptions.json(answer), terminator: "")
            return
        }
        // The folder itself is left out; its members are listed by name.
        let members = answer.items.filter { item in !Self.isSame(item.href ?? item.id.displayText, href) }
        for item in members.sorted(by: { Self.name(of: $0.href ?? $0.id.displayText) < Self.name(of: $1.href ?? $1.id.displayText) }) {
            let isFolder = item.fields["resourcetype"]?.stringValue?.contains("collection") == true
            let name = Self.name(of: item.href ?? item.id.displayText) + (isFolder ? "/" : "")
            guard self.long else {
                print(OutputOptions.printable(name))
                continue
            }
            let size = isFolder ? "-" : item.fields["getcontentlength"]?.stringValue ?? "?"
            let modified = item.fields["getlastmodified"]?.stringValue ?? ""
            let padded = String(repeating: " ", count: max(0, 12 - size.count)) + size
            print("\(padded)  \(modified)  \(OutputOptions.printable(name))")
        }
    }

    /// The last name of an href, decoded.
    static func name(of href: String) -> String {
        let path = URL(string: href)?.path ?? href
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        let last = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
        return last.removingPercentEncoding ?? last
    }

    /// True when two hrefs name the same resource (with or without a host, a trailing `/`, the same encoding).
    static func isSame(_ href: String, _ path: String) -> Bool {
        let normalize = { (text: String) -> String in
            let path = URL(string: text)?.path ?? text
            let decoded = path.removingPercentEncoding ?? path
            return decoded.hasSuffix("/") ? String(decoded.dropLast()) : decoded
        }
        return normalize(href) == normalize(path)
    }
}

/// `multistatus get PATH… [--archive out.zip]`: files down, each to its name here, or all in one ZIP.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download files, one status each; or many files and folders as one ZIP.",
        discussion: "Each file is written to its name in --into, replacing nothing that is there. " + ExitStatus.help)

    @Argument(help: "Paths on the server.")
    var paths: [String]

    @Option(help: "Write one ZIP of all the paths (folders with what is in them) to this file.")
    var archive: String?

    @Option(help: "The local folder to write the files into.")
    var into: String = "."

    @OptionGroup var connection: ClientOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let remote = self.paths.map(FileOperationOptions.remote)
        if let archive = self.archive {
            try await self.connection.withClient { client in
                let body = JSONValue.object(["paths": .array(remote.map(JSONValue.string))]).jsonText
                let response = try await client.execute(.POST, "/archives", body: .bytes(Array(body.utf8)), accept: "application/zip")
                guard response.status == .ok else { throw try await Self.failure(response) }
                try await Self.save(response, to: archive, replacing: true)
            }
            return
        }
        let answer = try await self.connection.withClient { client in
            var items: [ItemResult] = []
            for path in remote {
                items.append(await self.download(path, client: client))
            }
            var answer = ReceivedMultiStatus(collection: .files, items: items, summary: Summary(counting: items))
            answer.status = .multiStatus
            return answer
        }
        try self.output.finish(answer)
    }

    /// One file: its item, 200 with where it went, or why not.
    private func download(_ path: String, client: MultiStatusHTTPClient) async -> ItemResult {
        let id = JSONValue.string(path)
        do {
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
            let response = try await client.execute(.GET, "/files/" + encoded)
            guard response.status == .ok else { return ItemResult(id: id, problem: try await Self.failure(response).problem) }
            // A folder answers with its listing, which has no entity tag.
            if response.headers["ETag"].isEmpty {
                return ItemResult(id: id, problem: ProblemDetails(status: .conflict, detail: "a folder: get it with --archive"))
            }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            let target = self.into + "/" + name
            let size = try await Self.save(response, to: target, replacing: false)
            return ItemResult(id: id, status: .ok, message: "OK", location: target, fields: ["size": .int(size)])
        } catch let failure as MultiStatusHTTPClient.RequestFailed {
            return ItemResult(id: id, problem: failure.problem)
        } catch {
            return ItemResult(id: id, problem: ProblemDetails(status: .internalServerError, detail: "\(error)"))
        }
    }

    /// The problem of a response that is not the file.
    static func failure(_ response: HTTPClientResponse) async throws -> MultiStatusHTTPClient.RequestFailed {
        MultiStatusHTTPClient.RequestFailed(status: response.status, body: try await response.body.collect(upTo: 1 << 20).readableBytesView)
    }

    /// Streams the body to a temporary file beside `path`, then renames it into place: a
    /// download cut short leaves nothing behind. Returns the bytes written.
    @discardableResult
    static func save(_ response: HTTPClientResponse, to path: String, replacing: Bool) async throws -> Int {
        if !replacing && FileManager.default.fileExists(atPath: path) {
            throw MultiStatusHTTPClient.RequestFailed(problem: ProblemDetails(status: .conflict, detail: "\(path) exists here"))
        }
        let partial = path + ".part-\(UUID().uuidString.prefix(8))"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw ValidationError("\(partial) cannot be written")
        }
        var size = 0
        do {
            for try await buffer in response.body {
                try handle.write(contentsOf: buffer.readableBytesView)
                size += buffer.readableBytes
            }
            try handle.close()
            guard rename(partial, path) == 0 else { throw ValidationError("\(path) cannot be written") }
        } catch {
            try? handle.close()
            unlink(partial)
            throw error
        }
        return size
    }
}
