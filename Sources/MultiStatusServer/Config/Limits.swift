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
        depthInfinityMembers: Int? = nil
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
    }

    /// Members a `Depth: infinity` listing holds when `--allow-depth-infinity` is given without a number.
    public static let defaultDepthInfinityMembers = 100_000

    /// `probeTimeoutMs` as a duration.
    public var probeTimeout: Duration { .milliseconds(self.probeTimeoutMs) }
    /// `statusCacheMs` as a duration.
    public var statusCacheInterval: Duration { .milliseconds(self.statusCacheMs) }
}
