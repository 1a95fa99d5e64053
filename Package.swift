// swift-tools-version:6.1
//
// ccm-gateway: the device side of a Medicare CCM/RPM program.
//
// Targets carry the architecture (all arrows point inward, GatewayCore depends on nothing;
// docs/architecture.md draws the same graph):
//
//   ccm-gatewayd ─► GatewayConfig ─► GatewayPipeline ─► GatewayStore ─► GatewayCore, GRDB
//        ├───────► GatewayMQTT ─► CMosquitto (system libmosquitto), GatewayCore
//        └───────► GatewayBLE ──► CBlueZ (system libbluetooth), GatewayCore
//
// Libraries do not log: they throw, return or report events (MQTTEvent) and the executables
// decide what is said and how loudly (docs/logging.md).
//   ccmctl ──────► GatewayConfig ─► (the same)
//
// The sources (MQTT, BLE) never see the store: they hand inputs to an `InboxReceiver` and read
// the protocols GatewayCore declares (Ports/); the store and the pipeline implement them.
// ccmctl never links libbluetooth or libmosquitto.
import PackageDescription

/// One set of Swift settings for every target (the swift-nio "cross-repo settings" habit).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ccm-gateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ccm-gatewayd", targets: ["ccm-gatewayd"]),
        .executable(name: "ccmctl", targets: ["ccmctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
    ],
    targets: [
        // Pure domain: readings, units, plausibility, clock rules, dedup keys, the native format,
        // IEEE-11073 numbers. No I/O, no C libraries, no logging.
        .target(
            name: "GatewayCore",
            swiftSettings: strictSettings
        ),
        // SQLite through GRDB: frozen migrations, records, the queries.
        .target(
            name: "GatewayStore",
            dependencies: [
                "GatewayCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C interface, for reading hot-path rows by column (ColumnRows.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // The one ingestion pipeline every source feeds: inbox (with group commit), decide,
        // readings, rules, alerts; and the alert log file.
        .target(
            name: "GatewayPipeline",
            dependencies: [
                "GatewayCore",
                "GatewayStore",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // libmosquitto, the MQTT client library (apt libmosquitto-dev).
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // MQTT ingestion: owns the mosquitto handle; commits each message to the inbox inside
        // libmosquitto's callback, before the acknowledgement goes out.
        .target(
            name: "GatewayMQTT",
            dependencies: [
                "CMosquitto",
                "GatewayCore",
            ],
            swiftSettings: strictSettings
        ),
        // libbluetooth (BlueZ, apt libbluetooth-dev): Bluetooth addresses, HCI, L2CAP sockets.
        .systemLibrary(
            name: "CBlueZ",
            pkgConfig: "bluez",
            providers: [.apt(["libbluetooth-dev"])]
        ),
        // BLE ingestion: the ATT/GATT client over any message-oriented descriptor, the Blood
        // Pressure and Glucose profiles, and the kernel transport (L2CAP LE sockets, HCI scanning).
        .target(
            name: "GatewayBLE",
            dependencies: [
                "CBlueZ",
                "GatewayCore",
            ],
            swiftSettings: strictSettings
        ),
        // The YAML configuration and care-plan templates both executables read, and the wiring
        // of the pipeline they share.
        .target(
            name: "GatewayConfig",
            dependencies: [
                "GatewayCore",
                "GatewayStore",
                "GatewayPipeline",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ccm-gatewayd",
            dependencies: [
                "GatewayCore",
                "GatewayMQTT",
                "GatewayBLE",
                "GatewayStore",
                "GatewayPipeline",
                "GatewayConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ccmctl",
            dependencies: [
                "GatewayCore",
                "GatewayStore",
                "GatewayPipeline",
                "GatewayConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
            ],
            swiftSettings: strictSettings
        ),
        // Helpers the test targets share (temporary directories, inotify waits, child processes).
        .target(
            name: "GatewayTestSupport",
            path: "Tests/Support",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GatewayCoreTests",
            dependencies: ["GatewayCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GatewayStoreTests",
            dependencies: [
                "GatewayTestSupport",
                "GatewayCore",
                "GatewayStore",
                "GatewayPipeline",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GatewayConfigTests",
            dependencies: ["GatewayConfig", "GatewayStore", "GatewayPipeline", "GatewayCore", "GatewayTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GatewayMQTTTests",
            dependencies: [
                "GatewayMQTT", "GatewayStore", "GatewayPipeline", "GatewayCore", "GatewayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GatewayBLETests",
            dependencies: [
                "GatewayBLE", "ccm-gatewayd", "GatewayStore", "GatewayPipeline", "GatewayCore", "GatewayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ccmctlTests",
            dependencies: ["ccmctl", "GatewayStore", "GatewayPipeline", "GatewayCore", "GatewayTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ccm-gatewaydTests",
            dependencies: [
                "GatewayTestSupport",
                "GatewayBLE",
                .product(name: "GRDB", package: "GRDB.swift"),
                "ccm-gatewayd",
                "GatewayStore",
                "GatewayPipeline",
                "GatewayCore",
                "GatewayConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
