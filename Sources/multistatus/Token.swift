import ArgumentParser
import MultiStatusServer

/// `multistatus token`: bearer tokens for scripts and devices that should not hold a password.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage bearer tokens.", subcommands: [Create.self])

    /// `multistatus token create NAME --permission read|write [--root DIR] --token-file PATH`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token: print it once, and append only its SHA-256 to the token file.",
            discussion: "The server reads the token file again when it changes: the token works at once."
        )

        @Argument(help: "The token's name, shown in logs and owning its locks.")
        var name: String

        @Option(help: "read or write.")
        var permission: String

        @Option(help: "A folder of the store the token sees as the whole store.")
        var root: String?

        @Option(help: "The token file given to `multistatus serve --token-file`; created when missing.")
        var tokenFile: String

        func run() throws {
            guard let permission = Account.Permission(rawValue: self.permission) else {
                throw ValidationError("--permission must be read or write, not \(self.permission)")
            }
            print(try TokenFile.issue(name: self.name, permission: permission, root: self.root, to: self.tokenFile))
        }
    }
}
