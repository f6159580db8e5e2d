import Foundation
import TestSupport
import Testing

/// `--help` of `comfy-handler` and `comfy-handler serve` (the built executable, at 100 columns), compared with the
/// committed text under Tests/ComfyHandlerTests/Golden/, so every flag change shows up in review.
///
/// After an intended change, regenerate the files and review the diff:
///
///     COMFYLOCK_UPDATE_GOLDEN=1 swift test --filter HandlerGoldenHelpTests
@Suite("Golden --help of comfy-handler")
struct HandlerGoldenHelpTests {
    static let directory = TestPaths.repositoryRoot.appendingPathComponent("Tests/ComfyHandlerTests/Golden")
    static var updating: Bool { ProcessInfo.processInfo.environment["COMFYLOCK_UPDATE_GOLDEN"] == "1" }
    static var handler: URL { TestPaths.productsDirectory.appendingPathComponent("comfy-handler") }

    @Test("comfy-handler --help matches its golden file", arguments: [[String](), ["serve"]])
    func helpMatchesGolden(subcommand: [String]) throws {
        let result = try Subprocess.run(
            Self.handler.path, subcommand + ["--help"], environment: ["COLUMNS": "100", "RUNPOD_WEBHOOK_GET_JOB": ""])
        #expect(result.status == 0)
        let help = result.standardOutput
        #expect(help.contains("USAGE: comfy-handler"))
        let file = Self.directory.appendingPathComponent(
            (["comfy-handler"] + subcommand).joined(separator: "-") + ".txt")
        if Self.updating {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Data(help.utf8).write(to: file)
            return
        }
        let golden = try? String(contentsOf: file, encoding: .utf8)
        #expect(
            golden == help,
            """
            comfy-handler \(subcommand.joined(separator: " ")) --help differs from \(file.lastPathComponent); after an \
            intended change run COMFYLOCK_UPDATE_GOLDEN=1 swift test --filter HandlerGoldenHelpTests and review the diff.
            """)
    }
}
