// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "LeadLedgerBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "LeadLedger", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "LedgerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "EventLog", package: "LeadLedger"),
                .product(name: "LMDB", package: "LeadLedger"),
                .product(name: "LeadModel", package: "LeadLedger"),
                .product(name: "Projections", package: "LeadLedger"),
                .product(name: "Ledger", package: "LeadLedger"),
                .product(name: "ClusterStore", package: "LeadLedger"),
                .product(name: "LedgerDemo", package: "LeadLedger"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/LedgerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
