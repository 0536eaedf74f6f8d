import MultiStatusHummingbird

/// Every limit the server enforces, in one place; `GET /limits` shows them.
public struct Limits: Sendable, Hashable, Codable {
    /// Most items one batch request may carry (`PATCH /users` …).
    public var itemsPerBatch: Int
    /// Most files one upload request may carry.
    public var filesPerRequest: Int
    /// Largest single uploaded file, in bytes.
    public var bytesPerFile: Int
    /// Largest request body, in bytes (uploads stream up to this).
    public var bytesPerRequest: Int
    /// Largest JSON or XML request body, which is read whole before it is parsed.
    public var bytesPerDocument: Int
    /// How long one status probe may take, in milliseconds.
    public var probeTimeoutMs: Int
    /// How long `/check-statuses` results are reused, in milliseconds.
    public var statusCacheMs: Int
    /// Media types an upload may have (`image/png`, `image/*`); empty allows any.
    public var allowedTypes: [String]
    /// Most bytes the file store may hold; `nil` for no quota.
    public var storeQuotaBytes: Int?
    /// Most members a `PROPFIND` with `Depth: infinity` on a folder lists before it stops with a
    /// 507 response; `nil` refuses such requests with 403 `propfind-finite-depth` (the default).
    public var depthInfinityMembers: Int?
    /// Most header fields of a request (431 past it).
    public var headerFields: Int
    /// Most bytes of a request's header fields, and of any one of them (431 past it).
    public var headerBytes: Int
    /// Most header fields of one part of a multipart upload (413 past it).
    public var partHeaderFields: Int
    /// Most bytes of one part's header lines (413 past it).
    public var partHeaderBytes: Int
    /// Most ranges one `Range` header may ask for, after overlapping and adjacent ones are joined (416 past it).
    public var rangesPerRequest: Int
    /// Most bytes of an `If` header (400 past it).
    public var ifHeaderBytes: Int
    /// Most lists, each a resource's conditions in parentheses, in an `If` header (400 past it).
    public var ifHeaderLists: Int
    /// How long a connection may stay idle between requests, or take to send a request's head, in milliseconds.
    public var idleTimeoutMs: Int
    /// The window over which a request body's rate is measured, in milliseconds: a body that sends
    /// nothing, or less than `bodyMinimumBytesPerSecond` on average, over a window is cut with 408.
    public var bodyTimeoutMs: Int
    /// The slowest average rate a request body may arrive at, in bytes a second.
    public var bodyMinimumBytesPerSecond: Int
    /// Most connections open at once; more are answered 503 with `Retry-After`.
    public var connections: Int
    /// How long a request waits for a PostgreSQL connection, in milliseconds, before it is answered
    /// 503 with `Retry-After` (the server is down, or every pooled connection is busy).
    public var databaseWaitMs: Int

    /// The defaults documented in the README.
    public init(
        itemsPerBatch: Int = 10_000,
        filesPerRequest: Int = 1_000,
        bytesPerFile: Int = 1 << 30,
        bytesPerRequest: Int = 10 << 30,
        bytesPerDocument: Int = 32 << 20,
        probeTimeoutMs: Int = 2_000,
        statusCacheMs: Int = 1_000,
        allowedTypes: [String] = [],
        storeQuotaBytes: Int? = nil,
        depthInfinityMembers: Int? = nil,
        headerFields: Int = 100,
        headerBytes: Int = 32 << 10,
        partHeaderFields: Int = 16,
        partHeaderBytes: Int = 8 << 10,
        rangesPerRequest: Int = 64,
        ifHeaderBytes: Int = 8 << 10,
        ifHeaderLists: Int = 64,
        idleTimeoutMs: Int = 30_000,
        bodyTimeoutMs: Int = 20_000,
        bodyMinimumBytesPerSecond: Int = 500,
        connections: Int = 1_024,
        databaseWaitMs: Int = 5_000
    ) {
        self.itemsPerBatch = itemsPerBatch
        self.filesPerRequest = filesPerRequest
        self.bytesPerFile = bytesPerFile
        self.bytesPerRequest = bytesPerRequest
        self.bytesPerDocument = bytesPerDocument
        self.probeTimeoutMs = probeTimeoutMs
        self.statusCacheMs = statusCacheMs
        self.allowedTypes = allowedTypes
        self.storeQuotaBytes = storeQuotaBytes
        self.depthInfinityMembers = depthInfinityMembers
        self.headerFields = headerFields
        self.headerBytes = headerBytes
        self.partHeaderFields = partHeaderFields
        self.partHeaderBytes = partHeaderBytes
        self.rangesPerRequest = rangesPerRequest
        self.ifHeaderBytes = ifHeaderBytes
        self.ifHeaderLists = ifHeaderLists
        self.idleTimeoutMs = idleTimeoutMs
        self.bodyTimeoutMs = bodyTimeoutMs
        self.bodyMinimumBytesPerSecond = bodyMinimumBytesPerSecond
        self.connections = connections
        self.databaseWaitMs = databaseWaitMs
    }

    /// Members a `Depth: infinity` listing holds when `--allow-depth-infinity` is given without a number.
    public static let defaultDepthInfinityMembers = 100_000

    /// `probeTimeoutMs` as a duration.
    public var probeTimeout: Duration { .milliseconds(self.probeTimeoutMs) }
    /// `databaseWaitMs` as a duration.
    public var databaseWait: Duration { .milliseconds(self.databaseWaitMs) }
    /// `statusCacheMs` as a duration.
    public var statusCacheInterval: Duration { .milliseconds(self.statusCacheMs) }
}

extension Limits {
    /// The limits a JSON batch's body is read within.
    var batch: BatchLimits { BatchLimits(documentBytes: self.bytesPerDocument, items: self.itemsPerBatch) }
}
