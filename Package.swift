// swift-tools-version:6.0
// ComfyLock — reproducible ComfyUI deployments. See docs/tech.md for the module graph.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ComfyLock",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ComfyLock", targets: ["ComfyLock"]),
        .library(name: "ComfyModels", targets: ["ComfyModels"]),
        .library(name: "ComfyRuntime", targets: ["ComfyRuntime"]),
        .library(name: "ComfyGCS", targets: ["ComfyGCS"]),
        .library(name: "ComfyTransport", targets: ["ComfyTransport"]),
        .library(name: "ComfyCLI", targets: ["ComfyCLI"]),
        .executable(name: "comfy-cli", targets: ["comfy-cli"]),
        .executable(name: "comfy-handler", targets: ["comfy-handler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // System libraries: module map + shim header only.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),

        // Hashing and crypto primitives over OpenSSL EVP (SHA-256, ...). No C type in its public API.
        .target(name: "ComfyCrypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        // Lock schema, RFC 8785 canonical JSON, validation, diff, import/export. No I/O beyond bytes.
        .target(
            name: "ComfyLock",
            dependencies: ["ComfyCrypto", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        // The one HTTP stack of the product (libcurl), retry policy, progress.
        .target(name: "ComfyTransport", dependencies: ["CCurl", "ComfyCrypto"], swiftSettings: strict),
        // Model files: content-addressed store, stat cache, verify / fetch / materialize.
        .target(
            name: "ComfyModels", dependencies: ["ComfyTransport", "ComfyCrypto", "ComfyLock"], swiftSettings: strict),
        // Google Cloud Storage: auth, uploads, retries, permissions, V4 signed URLs.
        .target(
            name: "ComfyGCS", dependencies: ["ComfyTransport", "ComfyCrypto", "COpenSSL"], swiftSettings: strict),
        // Environments: process runner, git, venv + pip/uv, pinning, versions, ComfyUI supervision.
        .target(
            name: "ComfyRuntime",
            dependencies: ["ComfyLock", "ComfyModels", "ComfyTransport", "ComfyCrypto"],
            swiftSettings: strict),
        // Every CLI subcommand, as a library so tests can run commands in-process.
        .target(
            name: "ComfyCLI",
            dependencies: [
                "ComfyLock", "ComfyModels", "ComfyRuntime", "ComfyGCS", "ComfyTransport", "ComfyCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(name: "comfy-cli", dependencies: ["ComfyCLI"], swiftSettings: strict),
        .executableTarget(name: "comfy-handler", dependencies: ["ComfyCLI"], swiftSettings: strict),

        // Shared test helpers (temp dirs, repo paths, the test venv, subprocesses, free ports).
        .target(name: "TestSupport", dependencies: ["ComfyCrypto"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "ComfyLockTests", dependencies: ["ComfyLock", "ComfyCLI", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ComfyModelsTests",
            dependencies: ["ComfyModels", "ComfyTransport", "ComfyCrypto", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyGCSTests",
            dependencies: ["ComfyGCS", "ComfyTransport", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyRuntimeTests",
            dependencies: ["ComfyRuntime", "ComfyModels", "ComfyLock", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyCLITests", dependencies: ["ComfyCLI", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
