// swift-tools-version:6.0
// ComfyLock examples: one executable per layer, each importing one library of the root package on its own.
// Build: swift build --package-path Examples   (scripts/test.sh does this; see Examples/README.md)
import Foundation
import PackageDescription

// A path dependency's package identity is the name of its directory (a checkout may be called anything), so the
// product references below name the root package by that directory name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let comfyLock = root.lastPathComponent

func example(_ name: String, _ library: String) -> Target {
    .executableTarget(
        name: name, dependencies: [.product(name: library, package: comfyLock)], path: "Sources/\(name)")
}

let package = Package(
    name: "ComfyLockExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        example("VerifyLock", "ComfyLock"),
        example("FetchModel", "ComfyModels"),
        example("BuildVersion", "ComfyRuntime"),
        example("UploadToGCS", "ComfyGCS"),
        example("RunWorkflow", "ComfyServer"),
    ],
    swiftLanguageModes: [.v6]
)
