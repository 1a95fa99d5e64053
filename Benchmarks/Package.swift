// swift-tools-version:6.1
//
// ccm-bench: the gateway measured against the physical limits on the same machine, in one run
// (BENCHMARKS.md). A package of its own, so that the main package's builds and tests never build it.
// Run it with scripts/bench, which builds the release binaries it measures.
import PackageDescription

let package = Package(
    name: "ccm-gateway-benchmarks",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CLibMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .executableTarget(
            name: "ccm-bench",
            dependencies: ["CLibMosquitto"],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
