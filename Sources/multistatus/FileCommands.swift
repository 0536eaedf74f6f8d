import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient

/// What `rm`, `mv`, `cp` and `mkdir` share: their items go to `POST /file-operations` in one
/// request (split under the server's item limit, unless atomic), and its answer is shown.
struct FileOperationOptions: ParsableArguments {
    @Flag(help: "All or nothing: when one item fails, none is applied (exit 3).")
    var atomic = false

    @OptionGroup var connection: ClientOptions
    @OptionGroup var output: OutputOptions

    static let collection = ResourceCollection(key: "operations", identifierKey: "path", hrefPrefix: "/files/")

    /// Sends `items`, retries what may pass, shows the answer and exits with its status.
    func run(_ items: [JSONValue]) async throws -> Never {
        let answer = try await self.connection.withClient { client in
            let limit = try await ServerLimits.read(client).itemsPerBatch
            if self.atomic && items.count > limit {
                throw ValidationError(
                    "\(items.count) items are more than the server takes in one request (\(limit)); an atomic batch cannot be split")
            }
            var answers: [ReceivedMultiStatus] = []
            for start in stride(from: 0, to: items.count, by: max(limit, 1)) {
                let batch = Batch(
                    .POST, "/file-operations", items: Array(items[start..<min(start + limit, items.count)]), collection: Self.collection,
                    atomic: self.atomic, idempotencyKey: UUID().uuidString)
                let first = try await client.send(batch)
                answers.append(first.isRefusedAtomicBatch ? first : try await client.retryFailed(first, of: batch, policy: self.output.retryPolicy))
            }
            return ReceivedMultiStatus.merged(answers, collection: Self.collection)
        }
        try self.output.finish(answer)
    }

    /// A path on the server as the store names it: no leading `/`.
    static func remote(_ path: String) -> String {
        String(path.drop { $0 == "/" })
    }

    /// The destination of `source` for `mv`/`cp`: `target` itself for one source, unless `target`
    /// ends with `/`; inside the folder `target` otherwise.
    static func destination(of source: String, target: String, sources: Int) -> String {
        let target = Self.remote(target)
        guard sources > 1 || target.hasSuffix("/") || target.isEmpty else { return target }
        let name = Self.remote(source).split(separator: "/").last.map(String.init) ?? ""
        return (target.hasSuffix("/") || target.isEmpty ? target : target + "/") + name
    }
}

/// What a server takes in one request, from its `GET /limits`.
struct ServerLimits: Decodable {
    var itemsPerBatch: Int
    var filesPerRequest: Int
    var bytesPerFile: Int
    var bytesPerRequest: Int

    /// Reads the limits; a server without `/limits` is assumed to have this project's defaults.
    /// - Throws: ``MultiStatusHTTPClient/RequestFailed`` for 401 and 403: the batch would be refused too.
    static func read(_ client: MultiStatusHTTPClient) async throws -> ServerLimits {
        let response = try await client.execute(.GET, "/limits", accept: "application/json")
        let body = try await response.body.collect(upTo: 1 << 20)
        if response.status == .unauthorized || response.status == .forbidden {
            throw MultiStatusHTTPClient.RequestFailed(status: response.status, body: body.readableBytesView)
        }
        guard response.status == .ok, let limits = try? JSONDecoder().decode(ServerLimits.self, from: Data(buffer: body)) else {
            return ServerLimits(itemsPerBatch: 1_000, filesPerRequest: 1_000, bytesPerFile: 100 << 20, bytesPerRequest: 1 << 30)
        }
        return limits
    }
}

/// `multistatus rm PATH…`
struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete files and folders on the server, one status each.", discussion: ExitStatus.help)

    @Argument(help: "Paths on the server.")
    var paths: [String]

    @Flag(name: [.short, .long], help: "Delete folders with what is in them.")
    var recursive = false

    @OptionGroup var options: FileOperationOptions

    func run() async throws {
        try await self.options.run(
            self.paths.map { path in
                var item: [String: JSONValue] = ["op": "delete", "path": .string(FileOperationOptions.remote(path))]
                if self.recursive { item["recursive"] = true }
                return .object(item)
            })
    }
}

/// What `mv` and `cp` share: the sources and the target, and whether to replace.
struct TransferArguments: ParsableArguments {
    static let discussion = "With several sources, or a target ending in '/', each goes into the folder TARGET. " + ExitStatus.help

    @Argument(help: "Paths on the server: the sources, then the target.")
    var paths: [String]

    @Flag(help: "Replace what is at a destination.")
    var overwrite = false

    func validate() throws {
        guard self.paths.count >= 2 else { throw ValidationError("give at least one source and a target") }
    }

    /// The items: each source but the last path, to its destination under the last.
    func items(_ op: String, recursive: Bool) -> [JSONValue] {
        let sources = self.paths.dropLast()
        let target = self.paths.last ?? ""
        return sources.map { source in
            var item: [String: JSONValue] = [
                "op": .string(op), "path": .string(FileOperationOptions.remote(source)),
                "to": .string(FileOperationOptions.destination(of: source, target: target, sources: sources.count)),
            ]
            if self.overwrite { item["overwrite"] = true }
            if recursive { item["recursive"] = true }
            return .object(item)
        }
    }
}

/// `multistatus mv SOURCE… TARGET`
struct Move: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mv", abstract: "Move files and folders on the server, one status each.", discussion: TransferArguments.discussion)

    @OptionGroup var transfer: TransferArguments
    @OptionGroup var options: FileOperationOptions

    func run() async throws {
        try await self.options.run(self.transfer.items("move", recursive: false))
    }
}

/// `multistatus cp SOURCE… TARGET`
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp", abstract: "Copy files and folders on the server, one status each.", discussion: TransferArguments.discussion)

    @OptionGroup var transfer: TransferArguments

    @Flag(name: [.short, .long], help: "Copy folders with what is in them.")
    var recursive = false

    @OptionGroup var options: FileOperationOptions

    func run() async throws {
        try await self.options.run(self.transfer.items("copy", recursive: self.recursive))
    }
}

/// `multistatus mkdir PATH…`
struct MakeFolder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkdir", abstract: "Make folders on the server, one status each.", discussion: ExitStatus.help)

    @Argument(help: "Paths on the server.")
    var paths: [String]

    @OptionGroup var options: FileOperationOptions

    func run() async throws {
        try await self.options.run(self.paths.map { .object(["op": "mkdir", "path": .string(FileOperationOptions.remote($0))]) })
    }
}
