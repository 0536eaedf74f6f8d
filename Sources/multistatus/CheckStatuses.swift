import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient

/// `multistatus check-statuses`: asks a server for its sources' statuses and prints them.
struct CheckStatuses: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a server's /check-statuses as a table; exit 1 when a source fails.")

    @Option(help: "The server's base URL.")
    var server: String = "http://127.0.0.1:8080"

    @Flag(help: "Bypass the server's result cache.")
    var fresh = false

    @Option(help: "Body format to ask for: json, xml or ndjson.")
    var format: String = "json"

    @OptionGroup var connection: ClientOptions

    func run() async throws {
        guard let format = MultiStatusFormat(rawValue: self.format) else { throw ValidationError("format must be json, xml or ndjson") }
        let body = try await self.connection.withClient(server: self.server) { client in
            try await client.get("/check-statuses" + (self.fresh ? "?fresh=true" : ""), format: format, collection: .sources)
        }
        for item in body.items {
            let latency = item.fields["latencyMs"].map { " \($0.displayText) ms" } ?? ""
            let detail = item.problem?.detail.map { "  (\($0))" } ?? ""
            print("\(item.id.displayText)\t\(item.status.code) \(item.message)\(latency)\(detail)")
        }
        print("\(body.summary.succeeded) of \(body.summary.total) sources up")
        if body.summary.failed > 0 { throw ExitCode(1) }
    }
}
