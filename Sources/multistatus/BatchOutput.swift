import ArgumentParser
import Foundation
import MultiStatus
import MultiStatusClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The exit statuses of the client commands, which scripts rely on.
enum ExitStatus {
    /// Every item succeeded.
    static let allSucceeded: Int32 = 0
    /// The request itself failed: no connection, a whole-request error, bad arguments.
    static let requestFailed: Int32 = 1
    /// Some items failed.
    static let someFailed: Int32 = 2
    /// An atomic batch was refused: nothing was applied.
    static let atomicRefused: Int32 = 3

    /// What `--help` says of them.
    static let help = """
        Exit status: 0 every item succeeded; 2 some items failed; 1 the request itself failed \
        (connection, a whole-request error, bad arguments); 3 an atomic batch was refused.
        """
}

/// What the terminal can show: colours and a progress bar only when standard output is one.
enum Terminal {
    static let stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
    /// Colours unless standard output is not a terminal or `NO_COLOR` is set.
    static let colours = stdoutIsTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    /// A progress bar on standard error, when both it and standard output are terminals.
    static let progress = stdoutIsTerminal && isatty(STDERR_FILENO) == 1

    /// `text` in the colour of `status`: 2xx green, 4xx yellow, 5xx red.
    static func coloured(_ text: String, status: Int) -> String {
        guard colours else { return text }
        let code =
            switch status {
            case 200..<300: "32"
            case 400..<500: "33"
            case 500..<600: "31"
            default: "0"
            }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// Writes `text` to standard error.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// How a client command shows the answer of a batch: a table with a row per item and a summary
/// line, or the server's body with `--json`.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Write the server's 207 body (merged across split requests) on standard output, and nothing else.")
    var json = false

    @Flag(help: "List only the items that failed.")
    var onlyFailed = false

    @Option(help: "Send failed items again, up to N times, when their failure may pass (429, 503, 504, 507, or a retryAfter).")
    var retry = 0

    /// The retry policy of `--retry`.
    var retryPolicy: RetryPolicy { RetryPolicy(retries: self.retry) }

    /// Shows `answer` and ends the command with its exit status: 0, 2, or 3 for a refused atomic batch.
    func finish(_ answer: ReceivedMultiStatus) throws -> Never {
        if self.json {
            print(Self.json(answer), terminator: "")
        } else {
            Self.printTable(answer, onlyFailed: self.onlyFailed)
        }
        let status =
            answer.isRefusedAtomicBatch
            ? ExitStatus.atomicRefused : answer.failed.isEmpty ? ExitStatus.allSucceeded : ExitStatus.someFailed
        throw ExitCode(status)
    }

    /// The body as this library writes JSON: `{"<list>": [...], "summary": {...}}`.
    static func json(_ answer: ReceivedMultiStatus) -> String {
        var encoder = MultiStatusEncoder(format: .json, collection: answer.collection)
        var text = encoder.head()
        for (index, item) in answer.items.enumerated() { encoder.encode(item, index: index, into: &text) }
        return text + encoder.tail(summary: answer.summary)
    }

    /// One row per item (identifier, status, detail), then the summary line.
    static func printTable(_ answer: ReceivedMultiStatus, onlyFailed: Bool) {
        let rows = answer.items.filter { !onlyFailed || !$0.succeeded }
        let ids = rows.map { Self.printable($0.id.displayText) }
        let width = min(ids.map(\.count).max() ?? 0, 60)
        for (id, item) in zip(ids, rows) {
            let status = "\(item.status.code) \(item.message)"
            var detail = item.problem?.detail ?? item.location ?? ""
            if let latency = item.fields["latencyMs"] { detail += (detail.isEmpty ? "" : " ") + "\(latency.displayText) ms" }
            if let retryAfter = item.retryAfter { detail += " (retry after \(retryAfter) s)" }
            let padded = id.count < width ? id + String(repeating: " ", count: width - id.count) : id
            let statusColumn = status.count < 24 ? status + String(repeating: " ", count: 24 - status.count) : status
            print("\(padded)  \(Terminal.coloured(statusColumn, status: item.status.code))  \(Self.printable(detail))")
        }
        let summary = answer.summary
        var line = "\(summary.total) items: \(summary.succeeded) succeeded, \(summary.failed) failed"
        if answer.isRefusedAtomicBatch, let status = answer.status {
            line += "; the atomic batch was refused (\(status.code)): nothing was applied"
        }
        print(Terminal.coloured(line, status: summary.failed == 0 ? 200 : answer.isRefusedAtomicBatch ? 500 : 400))
    }

    /// `text` with control characters shown as `\u{…}`: a name from a server cannot move the cursor.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
                || (0x2066...0x2069).contains(scalar.value)
            {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension ReceivedMultiStatus {
    /// The answers of several requests of one command, as one: items in order, summary counted,
    /// and the status of the first request that was not a 207 (an atomic refusal).
    static func merged(_ answers: [ReceivedMultiStatus], collection: ResourceCollection) -> ReceivedMultiStatus {
        let items = answers.flatMap(\.items)
        var merged = ReceivedMultiStatus(collection: collection, items: items, summary: Summary(counting: items))
        merged.status = answers.first { $0.isRefusedAtomicBatch }?.status ?? answers.first?.status
        return merged
    }
}
