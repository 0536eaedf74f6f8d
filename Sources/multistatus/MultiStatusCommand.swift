import ArgumentParser
import Foundation

@main
struct MultiStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multistatus",
        abstract: "Batch operations that answer 207 Multi-Status: a server and a client.",
        discussion: "The client commands read every item of the server's answer. " + ExitStatus.help,
        subcommands: [
            Serve.self, Upload.self, Remove.self, Move.self, Copy.self, MakeFolder.self, List.self, Get.self, Records.self, Check.self, Lint.self,
            Token.self,
        ]
    )

    /// Runs the command; bad arguments exit 1 (not argument-parser's 64), as the exit statuses say.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.requestFailed)
            }
            exit(withError: error)
        }
    }
}
