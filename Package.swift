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
        .library(name: "ComfySupport", targets: ["ComfySupport"]),
        .library(name: "ComfyProcess", targets: ["ComfyProcess"]),
        .library(name: "ComfyCrypto", targets: ["ComfyCrypto"]),
        .library(name: "ComfyServer", targets: ["ComfyServer"]),
        .library(name: "ComfyHandler", targets: ["ComfyHandler"]),
        .library(name: "ComfyHandlerHTTP", targets: ["ComfyHandlerHTTP"]),
        .library(name: "ComfyCLI", targets: ["ComfyCLI"]),
        .executable(name: "comfy-cli", targets: ["comfy-cli"]),
        .executable(name: "comfy-handler", targets: ["comfy-handler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.2.0"),
        // The worker's `GET /metrics` (Prometheus text format).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` (the DocC catalogs under Sources/<Module>/<Module>.docc; see
        // scripts/docs.sh). A command plugin: nothing of it is built by `swift build`.
        .package(url: "https://github.com/apple/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // System libraries: module map + shim header only.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),

        // Shared plumbing with no dependencies: file lock, the one atomic write, blocking-work pool, the one redaction.
        .target(name: "ComfySupport", swiftSettings: strict),
        // Child processes: run-to-completion and long-lived (process groups, output streams, terminate, no orphans).
        .target(name: "ComfyProcess", dependencies: ["ComfySupport"], swiftSettings: strict),
        // Hashing and crypto primitives over OpenSSL EVP (SHA-256, MD5, CRC32C, RSA keys, RS256 JWTs, base64url).
        // The only module that imports COpenSSL. No C type in its public API.
        .target(name: "ComfyCrypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        // Lock schema, RFC 8785 canonical JSON, validation, diff, import/export. No I/O beyond bytes.
        .target(
            name: "ComfyLock",
            dependencies: ["ComfySupport", "ComfyCrypto", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        // The one HTTP stack of the product (libcurl), retry policy, progress.
        .target(
            name: "ComfyTransport", dependencies: ["CCurl", "ComfySupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Model files: content-addressed store, stat cache, verify / fetch / materialize.
        .target(
            name: "ComfyModels",
            dependencies: ["ComfySupport", "ComfyTransport", "ComfyCrypto", "ComfyLock", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Google Cloud Storage: auth, uploads, retries, permissions, V4 signed URLs.
        .target(
            name: "ComfyGCS",
            dependencies: ["ComfySupport", "ComfyTransport", "ComfyCrypto", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Environments: git cache, venv + pip/uv, pinning, lock create, versions, store gc.
        .target(
            name: "ComfyRuntime",
            dependencies: [
                "ComfySupport", "ComfyProcess", "ComfyLock", "ComfyModels", "ComfyTransport", "ComfyCrypto",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Launch, supervise and drive a ComfyUI server: API client, WebSocket events, outputs, deadlines.
        .target(
            name: "ComfyServer",
            dependencies: [
                "ComfySupport", "ComfyProcess", "ComfyTransport", "ComfyLock", "ComfyCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: strict),
        // The serverless worker: job model, executor, output delivery (base64 / GCS), RunPod loop, start-up checks.
        .target(
            name: "ComfyHandler",
            dependencies: [
                "ComfySupport", "ComfyServer", "ComfyRuntime", "ComfyModels", "ComfyGCS", "ComfyLock",
                "ComfyTransport", "ComfyCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        // The worker's local HTTP API (RunPod-shaped): the only target that links a server library.
        .target(
            name: "ComfyHandlerHTTP",
            dependencies: [
                "ComfyHandler",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Every CLI subcommand, as a library so tests can run commands in-process.
        .target(
            name: "ComfyCLI",
            dependencies: [
                "ComfySupport", "ComfyProcess", "ComfyLock", "ComfyModels", "ComfyRuntime", "ComfyGCS",
                "ComfyTransport", "ComfyCrypto", "ComfyServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(name: "comfy-cli", dependencies: ["ComfyCLI"], swiftSettings: strict),
        .executableTarget(
            name: "comfy-handler",
            dependencies: [
                "ComfyHandler", "ComfyHandlerHTTP", "ComfyRuntime", "ComfyGCS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),

        // Shared test helpers (temp dirs, repo paths, the test venv, subprocesses, loopback sockets and servers, the
        // in-process CLI runner).
        .target(name: "TestSupport", dependencies: ["ComfyCLI"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "ComfyLockTests", dependencies: ["ComfyLock", "ComfyCrypto", "ComfyCLI", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ComfyModelsTests",
            dependencies: ["ComfyModels", "ComfyTransport", "ComfyCrypto", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyGCSTests",
            dependencies: ["ComfyGCS", "ComfyTransport", "ComfyCrypto", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyRuntimeTests",
            dependencies: ["ComfyRuntime", "ComfyProcess", "ComfyModels", "ComfyLock", "ComfyCLI", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyCLITests",
            dependencies: [
                "ComfyCLI", "ComfySupport", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["Golden"], swiftSettings: strict),
        // Benchmarks of ComfyServer on the stand-in (scripts/bench/comfyui-run.sh).
        .executableTarget(
            name: "comfylock-bench-server",
            dependencies: [
                "ComfyServer", "ComfyLock", "ComfyTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            path: "scripts/bench/ServerBench", swiftSettings: strict),
        // A helper executable the process tests SIGKILL to check that no child survives its parent.
        .executableTarget(
            name: "comfylock-process-probe", dependencies: ["ComfyProcess"], path: "Tests/ProcessProbe",
            swiftSettings: strict),
        .testTarget(
            name: "ComfyTransportTests", dependencies: ["ComfyTransport", "ComfyCrypto", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyCryptoTests", dependencies: ["ComfyCrypto", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ComfySupportTests", dependencies: ["ComfySupport", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ComfyProcessTests", dependencies: ["ComfyProcess", "ComfySupport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyServerTests",
            dependencies: [
                "ComfyServer", "ComfyProcess", "ComfyLock", "ComfyCLI", "ComfyTransport", "ComfyCrypto", "TestSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ComfyHandlerTests",
            dependencies: [
                "ComfyHandler", "ComfyHandlerHTTP", "ComfyServer", "ComfyGCS", "ComfyLock", "ComfyRuntime", "ComfyModels",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            exclude: ["Golden"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
