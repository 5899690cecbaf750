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
        .library(name: "ClusterStore", targets: ["ClusterStore"]),
        .library(name: "LedgerDemo", targets: ["LedgerDemo"]),
        .executable(name: "leadledger", targets: ["leadledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
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
        .target(
            name: "Ledger",
            dependencies: ["EventLog", "LeadModel", "Projections", .product(name: "Crypto", package: "swift-crypto")]),
        // The replicated mode: PostgreSQL as the log of record (DESIGN §8.5).
        .target(
            name: "ClusterStore",
            dependencies: [
                "EventLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // The seeded demo history: a generator of events, apart from the library users deploy.
        .target(name: "LedgerDemo", dependencies: ["LeadModel"]),
        .target(
            name: "LedgerServer",
            dependencies: [
                "EventLog", "LeadModel", "Projections", "Ledger", "ClusterStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "leadledger",
            dependencies: [
                "LMDB", "EventLog", "LeadModel", "Projections", "Ledger", "LedgerDemo",
                "LedgerServer", "ClusterStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "CLMDB"]),
        .testTarget(name: "EventLogTests", dependencies: ["LMDB", "EventLog", "eventlog-crash-child", "ClusterStore", "PostgresHarness"]),
        // PostgreSQL 15 servers (a primary, synchronous standbys) started on loopback for the tests.
        .target(name: "PostgresHarness", path: "Tests/Support/PostgresHarness"),
        // A child process for the crash tests: appends until it is killed.
        .executableTarget(name: "eventlog-crash-child", dependencies: ["EventLog"], path: "Tests/Support/CrashChild"),
        .testTarget(
            name: "ClusterStoreTests",
            dependencies: ["EventLog", "ClusterStore", "PostgresHarness", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "LeadModelTests", dependencies: ["LeadModel"]),
        .testTarget(name: "ProjectionsTests", dependencies: ["EventLog", "LeadModel", "Projections"]),
        .testTarget(
            name: "LedgerTests", dependencies: ["LMDB", "EventLog", "LeadModel", "Projections", "Ledger", "LedgerDemo"],
            exclude: ["Fixtures"]),
        .testTarget(name: "LedgerDemoTests", dependencies: ["LeadModel", "LedgerDemo"]),
        .testTarget(name: "CommandLineTests", dependencies: ["leadledger", "EventLog", "ClusterStore", "PostgresHarness"]),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: [
                "EventLog", "LeadModel", "Projections", "Ledger", "LedgerServer",
                "leadledger", "ClusterStore", "PostgresHarness",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
