public import Hummingbird
public import HummingbirdAuth
public import MultiStatusHummingbird
public import NIOCore
import Synchronization

/// The request context of every route: the account the request comes from, once authenticated,
/// and the client's address.
public struct AppRequestContext: AuthRequestContext, RemoteAddressRequestContext, AccountNamingRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The account, set by ``AccountAuthenticator``; `nil` without accounts or on a public route.
    public var identity: Account? {
        didSet { self.account.set(self.identity?.name) }
    }
    private let channel: any Channel
    /// The account's name, shared by every copy of this context: the access log, outside the
    /// middleware that authenticates, reads it once the request is done.
    private let account = SharedName()

    public var accountName: String? { self.account.get() }

    /// The peer of the connection (a reverse proxy, when there is one); read only when a login is
    /// counted or logged.
    public var remoteAddress: SocketAddress? { self.channel.remoteAddress }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.channel = source.channel
    }
}

/// A name several copies of a context share.
private final class SharedName: Sendable {
    private let name = Mutex<String?>(nil)
    func get() -> String? { self.name.withLock { $0 } }
    func set(_ value: String?) { self.name.withLock { $0 = value } }
}

extension AuthRequestContext where Identity == Account {
    /// The folder of the file store this request sees as the whole store.
    var storeRoot: StorePath { self.identity?.root ?? .root }

    /// The name locks are taken in, `nil` without accounts.
    var principal: String? { self.identity?.name }
}
