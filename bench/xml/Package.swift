// swift-tools-version:6.0
import PackageDescription

// The XML reader against Foundation's XMLParser (libxml2) on the bodies the server reads.
let package = Package(
    name: "xml-bench",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "XMLBench",
            dependencies: [.product(name: "MultiStatus", package: "main")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        )
    ]
)
