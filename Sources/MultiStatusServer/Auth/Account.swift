/// Who a request comes from: an account of the account file or a token of the token file.
///
/// Features read it from the request context; they never parse credentials themselves.
public struct Account: Sendable, Hashable {
    /// What an account may do.
    public enum Permission: String, Sendable, Hashable {
        /// Read only: every write method is refused with 403.
        case read
        /// Read and write.
        case write
    }

    /// How the account proved who it is.
    public enum Credential: String, Sendable, Hashable {
        /// HTTP Basic, checked against a bcrypt hash of the account file.
        case password
        /// `Authorization: Bearer`, checked against a SHA-256 of the token file.
        case token
    }

    /// The name in the file; for a token, its label.
    public var name: String
    /// What the account may do.
    public var permission: Permission
    /// The folder of the file store the account sees as the whole store (``StorePath/root`` for all of it).
    public var root: StorePath
    /// How the account proved who it is.
    public var credential: Credential

    /// Creates an account.
    public init(name: String, permission: Permission, root: StorePath = .root, credential: Credential = .password) {
        self.name = name
        self.permission = permission
        self.root = root
        self.credential = credential
    }

    /// True when the account may change files and records.
    public var mayWrite: Bool { self.permission == .write }
}
