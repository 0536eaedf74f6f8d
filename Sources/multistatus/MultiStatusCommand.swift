import ArgumentParser

@main
struct MultiStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multistatus",
        abstract: "Batch operations that answer 207 Multi-Status: a server and a client.",
        subcommands: [Serve.self, CheckStatuses.self, Token.self]
    )
}
