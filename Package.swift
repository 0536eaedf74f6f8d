// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "multistatus",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MultiStatus", targets: ["MultiStatus"]),
        .library(name: "MultiStatusHummingbird", targets: ["MultiStatusHummingbird"]),
        .library(name: "MultiStatusClient", targets: ["MultiStatusClient"]),
        .executable(name: "multistatus", targets: ["multistatus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.32.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.0"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.14.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "MultiStatus",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types")
            ]
        ),
        .target(
            name: "MultiStatusHummingbird",
            dependencies: [
                "MultiStatus",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // SHA-256 of an idempotent request's fingerprint.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Linux system calls that Swift's Glibc module does not declare (openat2, renameat2, copy_file_range).
        .target(name: "CMultiStatusSystem", linkerSettings: [.linkedLibrary("z")]),
        .target(
            name: "MultiStatusServer",
            dependencies: [
                "MultiStatus",
                "CMultiStatusSystem",
                "MultiStatusHummingbird",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Its `ConnectionPoolError`, which `PostgresClient` passes on as it is when the pool's circuit breaker trips.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/ui")]
        ),
        .target(
            name: "MultiStatusClient",
            dependencies: [
                "MultiStatus",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "multistatus",
            dependencies: [
                "MultiStatusServer",
                "MultiStatusClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // The SHA-256 of each uploaded file, which the server checks.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libFuzzer harnesses (fuzz/README.md). A plain build makes each a program that replays a corpus.
        .target(name: "FuzzSupport", path: "fuzz/Sources/FuzzSupport"),
        .executableTarget(name: "FuzzXML", dependencies: ["FuzzSupport", "MultiStatus"], path: "fuzz/Sources/FuzzXML"),
        .executableTarget(name: "FuzzJSON", dependencies: ["FuzzSupport", "MultiStatus"], path: "fuzz/Sources/FuzzJSON"),
        .executableTarget(name: "FuzzIfHeader", dependencies: ["FuzzSupport", "MultiStatusServer"], path: "fuzz/Sources/FuzzIfHeader"),
        .executableTarget(name: "FuzzStorePath", dependencies: ["FuzzSupport", "MultiStatusServer"], path: "fuzz/Sources/FuzzStorePath"),
        .executableTarget(name: "FuzzRange", dependencies: ["FuzzSupport", "MultiStatusServer"], path: "fuzz/Sources/FuzzRange"),
        .executableTarget(
            name: "FuzzMultipart",
            dependencies: [
                "FuzzSupport", "MultiStatusServer", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fuzz/Sources/FuzzMultipart"
        ),
        // posix_spawn for the tests' child processes; see Tests/MultiStatusServerTests/ChildProcess.swift.
        .target(name: "CChildProcess", path: "Tests/CChildProcess"),
        .testTarget(name: "MultiStatusTests", dependencies: ["MultiStatus"]),
        .testTarget(
            name: "MultiStatusHummingbirdTests",
            dependencies: [
                "MultiStatusHummingbird",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MultiStatusServerTests",
            dependencies: [
                "MultiStatusServer",
                "MultiStatusClient",
                "MultiStatusHummingbird",
                "CChildProcess",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            // Answers of other servers, captured by scripts/capture-propfind; read from the source tree.
            exclude: ["Fixtures"]
        ),
    ]
)
