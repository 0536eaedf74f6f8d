import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient

/// `multistatus check`: a server's sources and their statuses, as a table.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a server's /check-statuses as a table.",
        discussion: ExitStatus.help,
        aliases: ["check-statuses"]
    )

    @Flag(help: "Bypass the server's result cache.")
    var fresh = false

    @Option(help: "Body format to ask for: json, xml or ndjson.")
    var format: String = "json"

    @OptionGroup var connection: ClientOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        guard let format = MultiStatusFormat(rawValue: self.format) else { throw ValidationError("format must be json, xml or ndjson") }
        let answer = try await self.connection.withClient { client in
            try await client.get("/check-statuses" + (self.fresh ? "?fresh=true" : ""), format: format, collection: .sources)
        }
        try self.output.finish(answer)
    }
}
