// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "LeadLedger",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "LeadModel", targets: ["LeadModel"]),
        .library(name: "Projections", targets: ["Projections"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .executable(name: "leadledger", targets: ["leadledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(
            name: "EventLog",
            dependencies: ["LMDB", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "LeadModel"),
        .target(name: "Projections", dependencies: ["EventLog", "LeadModel"]),
        .target(name: "Ledger", dependencies: ["EventLog", "LeadModel", "Projections"]),
        .executableTarget(
            name: "leadledger",
            dependencies: [
                "Ledger",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "CLMDB"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "eventlog-crash-child"]),
        // A child process for the crash tests: appends until it is killed.
        .executableTarget(name: "eventlog-crash-child", dependencies: ["EventLog"], path: "Tests/Support/CrashChild"),
        .testTarget(name: "LeadModelTests", dependencies: ["LeadModel"]),
        .testTarget(name: "ProjectionsTests", dependencies: ["Projections"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger"]),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
