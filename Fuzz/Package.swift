// swift-tools-version:6.0
// libFuzzer target for ComfyLock's strict JSON parser and canonical writer. A separate package so the normal build
// and tests never see the sanitizer flags. Build and run (see docs/lock-format.md, "Fuzzing"):
//   swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   Fuzz/.build/debug/FuzzJSONParser Fuzz/corpus -max_total_time=300
import PackageDescription

let package = Package(
    name: "ComfyLockFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "ComfyLock", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzJSONParser",
            dependencies: [.product(name: "ComfyLock", package: "ComfyLock")],
            swiftSettings: [.enableExperimentalFeature("Extern")]),
        // Security rules: git URL / download URL / name rules, YAML import (aliases, depth), escaping.
        //   Fuzz/.build/debug/FuzzSecurity Fuzz/seeds-security -max_total_time=300 -rss_limit_mb=2048
        .executableTarget(
            name: "FuzzSecurity",
            dependencies: [.product(name: "ComfyLock", package: "ComfyLock")],
            swiftSettings: [.enableExperimentalFeature("Extern")]),
    ],
    swiftLanguageModes: [.v6]
)
