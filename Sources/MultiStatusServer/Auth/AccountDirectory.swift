import Crypto
import HummingbirdBcrypt
public import Logging
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The accounts (`--auth-file`) and tokens (`--token-file`) in force.
///
/// The files are read again when one changes (its inode, size or times, checked on every
/// request with one `stat`) or on ``reload()``: an account added or removed counts from
/// the next request on. A file that cannot be read or parsed while the server runs leaves the
/// accounts as they were, and the error is logged.
///
/// A password that passed its bcrypt check is remembered for ``cacheLifetime``, keyed by a SHA-256
/// of the name and the password, so that WebDAV clients, which send it with every request, pay
/// for bcrypt once; the memory is dropped whenever a file changes. A failed check is never
/// remembered.
///
/// ```swift
/// let accounts = try AccountDirectory(accountFile: "users.htpasswd", tokenFile: nil, logger: logger)
/// ```
public final class AccountDirectory: Sendable {
    /// The account file, `name:BCRYPT:PERMISSION[:ROOT]` per line.
    public let accountFile: String?
    /// The token file, `name:SHA256:PERMISSION[:ROOT]` per line.
    public let tokenFile: String?
    /// How long a passed password check is remembered.
    public let cacheLifetime: Duration
    /// The files that are read, in that order.
    private let files: [String]
    private let logger: Logger
    private let state: Mutex<State>
    private let checks = Atomic<Int>(0)
    /// Passwords remembered at most; past it the memory starts again.
    private static var cacheCapacity: Int { 10_000 }

    private struct State: Sendable {
        var snapshot: Snapshot
        var remembered: [CacheKey: (name: String, until: ContinuousClock.Instant)] = [:]
        /// Makes an account's root folder; set by the server once the store is open.
        var prepareRoot: (@Sendable (StorePath) throws -> Void)?
    }

    /// What the files said when last read.
    struct Snapshot: Sendable {
        var passwords: [String: (account: Account, hash: String)] = [:]
        var tokens: [(digest: [UInt8], account: Account)] = []
        /// Checked for a name that has no account, so that it costs what a wrong password costs.
        var dummyHash = AccountDirectory.dummyHash(cost: 10)
        var stamps: [FileStamp?] = []
    }

    /// Reads the files.
    /// - Parameters:
    ///   - accountFile: the account file, or `nil`.
    ///   - tokenFile: the token file, or `nil`.
    ///   - cacheLifetime: how long a passed password check is remembered (5 minutes).
    ///   - logger: where reloads and their errors are logged.
    /// - Throws: ``AccountFileError`` naming the file and line that cannot be used.
    public init(accountFile: String?, tokenFile: String?, cacheLifetime: Duration = .seconds(300), logger: Logger) throws(AccountFileError) {
        self.accountFile = accountFile
        self.tokenFile = tokenFile
        self.files = [accountFile, tokenFile].compactMap { $0 }
        self.cacheLifetime = cacheLifetime
        self.logger = logger
        self.state = Mutex(State(snapshot: Snapshot()))
        let snapshot = try self.readFiles()
        self.state.withLock { $0.snapshot = snapshot }
    }

    /// True when tokens are configured (a 401 then offers `Bearer` too).
    public var acceptsTokens: Bool { self.tokenFile != nil }

    /// How many bcrypt checks were made: one per password not remembered, and one per unknown name.
    public var bcryptChecks: Int { self.checks.load(ordering: .relaxed) }

    /// The accounts of the account file and the tokens of the token file, as last read.
    public var accounts: [Account] {
        let snapshot = self.currentSnapshot()
        return snapshot.passwords.values.map(\.account).sorted { $0.name < $1.name } + snapshot.tokens.map(\.account)
    }

    /// Creates the root folder of every account now, and of every account read later, with `prepare`.
    /// - Throws: what `prepare` throws for a root, naming the account.
    func prepareRoots(with prepare: @escaping @Sendable (StorePath) throws -> Void) throws {
        let snapshot = self.state.withLock { state in
            state.prepareRoot = prepare
            return state.snapshot
        }
        try Self.prepare(snapshot, with: prepare)
    }

    /// Reads the files again now (SIGHUP).
    public func reload() {
        self.refresh(force: true)
    }

    // MARK: Checks

    /// The account whose name and password these are, when a bcrypt check passed them within
    /// ``cacheLifetime`` and the files have not changed since; `nil` otherwise.
    func rememberedAccount(named name: String, password: String) -> Account? {
        self.refresh(force: false)
        let key = CacheKey(name: name, password: password)
        let now = ContinuousClock.now
        return self.state.withLock { state in
            guard let entry = state.remembered[key] else { return nil }
            guard entry.until > now, entry.name == name else {
                state.remembered[key] = nil
                return nil
            }
            return state.snapshot.passwords[name]?.account
        }
    }

    /// The account whose name and password these are, by a bcrypt check (on a thread of its own;
    /// for a name without an account, against a dummy hash of the same cost), or `nil`. A pass is
    /// remembered; ask ``rememberedAccount(named:password:)`` first.
    func checkedAccount(named name: String, password: String) async -> Account? {
        let snapshot = self.currentSnapshot()
        let entry = snapshot.passwords[name]
        // A password with NUL would be cut short by the C code and match a prefix: never valid.
        let hash = entry?.hash ?? snapshot.dummyHash
        let valid = password.utf8.contains(0) ? false : await self.verify(password, hash: hash)
        guard valid, let entry else { return nil }
        let key = CacheKey(name: name, password: password)
        let now = ContinuousClock.now
        self.state.withLock { state in
            // Only while the file read is still the one checked against.
            guard state.snapshot.stamps == snapshot.stamps else { return }
            if state.remembered.count >= Self.cacheCapacity {
                state.remembered = state.remembered.filter { $0.value.until > now }
                if state.remembered.count >= Self.cacheCapacity { state.remembered.removeAll() }
            }
            state.remembered[key] = (name, now + self.cacheLifetime)
        }
        return entry.account
    }

    /// The account of the account file named `name`, as last read; `nil` when it is gone. A
    /// console session asks at each request, so an account removed or changed counts at once.
    func account(named name: String) -> Account? {
        self.refresh(force: false)
        return self.state.withLock { $0.snapshot.passwords[name]?.account }
    }

    /// The account of a bearer token, or `nil`: its SHA-256 compared with every token's, in constant time.
    func account(token: String) -> Account? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Account?
        for entry in self.currentSnapshot().tokens where Self.constantTimeEqual(entry.digest, digest) {
            found = entry.account
        }
        return found
    }

    private func verify(_ password: String, hash: String) async -> Bool {
        self.checks.add(1, ordering: .relaxed)
        return (try? await Self.bcryptPool.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
    }

    /// bcrypt's threads: each check holds one for tens of milliseconds, which must not be taken
    /// from the file system's pool or from Swift's cooperative threads.
    private static let bcryptPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// A SHA-256 of a name and a password: what the memory of passed checks is keyed by, never the password.
    private struct CacheKey: Hashable, Sendable {
        let words: (UInt64, UInt64, UInt64, UInt64)

        init(name: String, password: String) {
            var hasher = SHA256()
            hasher.update(data: Array(name.utf8))
            hasher.update(data: [0])
            hasher.update(data: Array(password.utf8))
            self.words = hasher.finalize().withUnsafeBytes { bytes in
                (
                    bytes.loadUnaligned(as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                )
            }
        }

        static func == (a: Self, b: Self) -> Bool { a.words == b.words }
        func hash(into hasher: inout Hasher) {
            hasher.combine(self.words.0)
            hasher.combine(self.words.1)
            hasher.combine(self.words.2)
            hasher.combine(self.words.3)
        }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A well-formed hash of `cost` that no password matches: bcrypt's time depends on the cost alone.
    static func dummyHash(cost: Int) -> String {
        "$2b$" + (cost < 10 ? "0" : "") + String(cost) + "$" + String(repeating: ".", count: 53)
    }

    // MARK: Reading the files

    /// The snapshot in force, read again first when a file changed.
    private func currentSnapshot() -> Snapshot {
        self.refresh(force: false)
        return self.state.withLock { $0.snapshot }
    }

    private func refresh(force: Bool) {
        let (old, prepare) = self.state.withLock { ($0.snapshot.stamps, $0.prepareRoot) }
        // One stat per file and nothing else on every request: the files rarely change.
        guard force || self.files.indices.contains(where: { FileStamp(path: self.files[$0]) != (old.indices.contains($0) ? old[$0] : nil) }) else {
            return
        }
        let stamps = self.files.map(FileStamp.init(path:))
        do {
            let snapshot = try self.readFiles()
            if let prepare { try Self.prepare(snapshot, with: prepare) }
            self.state.withLock { state in
                state.snapshot = snapshot
                state.remembered.removeAll()
            }
            self.logger.notice(
                "accounts read", metadata: ["accounts": "\(snapshot.passwords.count)", "tokens": "\(snapshot.tokens.count)"])
        } catch {
            // Kept as they were; the stamps are taken so that the error is logged once per change.
            self.state.withLock { $0.snapshot.stamps = stamps }
            self.logger.error("accounts not read again; the previous ones stay in force", metadata: ["error": "\(error)"])
        }
    }

    private func readFiles() throws(AccountFileError) -> Snapshot {
        var snapshot = Snapshot()
        snapshot.stamps = self.files.map(FileStamp.init(path:))
        if let accountFile {
            var highestCost = 0
            for entry in try AccountFile.parse(try Self.contents(of: accountFile), credential: .password, path: accountFile) {
                guard case .bcrypt(let hash, let cost) = entry.secret else { continue }
                snapshot.passwords[entry.account.name] = (entry.account, hash)
                highestCost = max(highestCost, cost)
            }
            if highestCost > 0 { snapshot.dummyHash = Self.dummyHash(cost: highestCost) }
        }
        if let tokenFile {
            for entry in try AccountFile.parse(try Self.contents(of: tokenFile), credential: .token, path: tokenFile) {
                guard case .sha256(let digest) = entry.secret else { continue }
                snapshot.tokens.append((digest, entry.account))
            }
        }
        return snapshot
    }

    private static func prepare(_ snapshot: Snapshot, with prepare: (StorePath) throws -> Void) throws {
        for account in snapshot.passwords.values.map(\.account) + snapshot.tokens.map(\.account) where !account.root.components.isEmpty {
            do {
                try prepare(account.root)
            } catch {
                throw AccountRootError(account: account.name, root: account.root, reason: "\(error)")
            }
        }
    }

    /// The bytes of a file; the file is small, and read only when it changed.
    private static func contents(of path: String) throws(AccountFileError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw AccountFileError(path: path, line: nil, reason: "cannot be read: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw AccountFileError(path: path, line: nil, reason: "cannot be read: \(String(cString: strerror(errno)))") }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            guard bytes.count <= 64 << 20 else { throw AccountFileError(path: path, line: nil, reason: "is larger than 64 MiB") }
        }
    }
}

/// An account's root folder that cannot be made (a file is in the way).
public struct AccountRootError: Error, CustomStringConvertible, Sendable {
    public let account: String
    public let root: StorePath
    public let reason: String
    public var description: String { "the root \(self.root)/ of account \(self.account) cannot be made: \(self.reason)" }
}

/// What `stat` says of a file, to tell that it changed: device, inode, size, and modification and
/// status-change times (an edit that keeps the modification time, `cp -p` say, still changes the latter).
struct FileStamp: Sendable, Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: timespec
    let changed: timespec

    static func == (a: Self, b: Self) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
            && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }

    /// The stamp of the file at `path`, or `nil` when it cannot be read.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
        self.size = Int64(info.st_size)
        self.modified = info.st_mtim
        self.changed = info.st_ctim
    }
}
