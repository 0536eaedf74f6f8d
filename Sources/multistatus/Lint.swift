import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient
import NIOHTTP1

/// `multistatus lint [URL | FILE | -]`: how any server's 207 breaks the format a client relies on.
struct Lint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a 207 Multi-Status answer, of any server, for what a client could misread.",
        discussion: """
            Given a URL, sends one request (--method, --header, --data) and checks the answer; given a file, or - for \
            standard input, checks a saved answer: status line and header fields then the body (as curl -i writes it), \
            or a body alone. Exit status: 0 clean; 2 with findings, one per line; 1 the request failed.
            """)

    @Argument(help: "An http(s) URL, a file, or - for standard input.")
    var source: String = "-"

    @Option(help: "The request's method, for a URL.")
    var method: String = "GET"

    @Option(name: .customLong("header"), help: "A request header field, NAME: VALUE; may be given again.")
    var headers: [String] = []

    @Option(help: "The request body, for a URL; @FILE reads it from a file.")
    var data: String?

    @OptionGroup var connection: ClientOptions

    func run() async throws {
        let answer: MultiStatusLint.Answer
        if self.source.hasPrefix("http://") || self.source.hasPrefix("https://") {
            answer = try await self.fetch()
        } else {
            let bytes = self.source == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: self.source))
            answer = MultiStatusLint.Answer(saved: Array(bytes))
        }
        let findings = MultiStatusLint.check(answer)
        for finding in findings { print(OutputOptions.printable(finding.description)) }
        if findings.isEmpty { print("clean: a well-formed 207") }
        throw ExitCode(findings.isEmpty ? ExitStatus.allSucceeded : ExitStatus.someFailed)
    }

    /// Sends the request to the URL and keeps what came back.
    private func fetch() async throws -> MultiStatusLint.Answer {
        guard let url = URL(string: self.source), let scheme = url.scheme, let host = url.host else {
            throw ValidationError("\(self.source) is not a URL")
        }
        let base = "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        let path = String(self.source.dropFirst(base.count))
        var connection = self.connection
        connection.server = base
        var fields: [(String, String)] = []
        for header in self.headers {
            guard let colon = header.firstIndex(of: ":") else { throw ValidationError("--header \(header) is not NAME: VALUE") }
            fields.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let body: [UInt8]? = try self.data.map { data in
            data.hasPrefix("@") ? Array(try Data(contentsOf: URL(fileURLWithPath: String(data.dropFirst())))) : Array(data.utf8)
        }
        let contentType = fields.first { $0.0.lowercased() == "content-type" }?.1 ?? "application/json"
        return try await connection.withClient { client in
            let response = try await client.execute(
                HTTPMethod(rawValue: self.method.uppercased()), path.isEmpty ? "/" : path, body: body.map { .bytes($0) },
                contentType: contentType, headers: fields.filter { $0.0.lowercased() != "content-type" })
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return MultiStatusLint.Answer(
                status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "", body: Array(buffer: bytes),
                requestURL: url)
        }
    }
}
