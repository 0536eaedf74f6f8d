public import Hummingbird
public import HummingbirdAuth
public import NIOCore

/// The request context of every route: the account the request comes from, once authenticated,
/// and the client's address.
public struct AppRequestContext: AuthRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The account, set by ``AccountAuthenticator``; `nil` without accounts or on a public route.
    public var identity: Account?
    private let channel: any Channel

    /// The peer of the connection (a reverse proxy, when there is one); read only when a login is
    /// counted or logged.
    public var remoteAddress: SocketAddress? { self.channel.remoteAddress }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.channel = source.channel
    }
}

extension AuthRequestContext where Identity == Account {
    /// The folder of the file store this request sees as the whole store.
    var storeRoot: StorePath { self.identity?.root ?? .root }

    /// The name locks are taken in, `nil` without accounts.
    var principal: String? { self.identity?.name }
}
