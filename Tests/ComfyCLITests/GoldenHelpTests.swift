import ArgumentParser
import ComfyCLI
import Foundation
import TestSupport
import Testing

/// `--help` of every comfy-cli command, compared with the committed text under Tests/ComfyCLITests/Golden/ (one
/// file per command, `comfy-cli-<group>-<command>.txt`), so every help change shows up in review.
///
/// After an intended change, regenerate the files and review the diff:
///
///     COMFYLOCK_UPDATE_GOLDEN=1 swift test --filter GoldenHelpTests
@Suite("Golden --help of every comfy-cli command")
struct GoldenHelpTests {
    static let directory = TestPaths.repositoryRoot.appendingPathComponent("Tests/ComfyCLITests/Golden")
    static let columns = 100
    static var updating: Bool { ProcessInfo.processInfo.environment["COMFYLOCK_UPDATE_GOLDEN"] == "1" }

    /// Every command of the tree with its path (`["comfy-cli", "lock", "diff"]`), root first.
    static func commands(
        _ command: any ParsableCommand.Type = ComfyCommand.self, path: [String] = ["comfy-cli"]
    ) -> [(path: [String], command: any ParsableCommand.Type)] {
        [(path, command)]
            + command.configuration.subcommands.flatMap { sub in
                commands(sub, path: path + [sub._commandName])
            }
    }

    static func fileName(_ path: [String]) -> String { path.joined(separator: "-") + ".txt" }

    @Test("every command's --help matches its golden file", arguments: commands().map(\.path))
    func helpMatchesGolden(path: [String]) throws {
        let command = try #require(Self.commands().first { $0.path == path }?.command)
        let help = ComfyCommand.helpMessage(for: command, columns: Self.columns) + "\n"
        let file = Self.directory.appendingPathComponent(Self.fileName(path))
        if Self.updating {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Data(help.utf8).write(to: file)
            return
        }
        let golden = try? String(contentsOf: file, encoding: .utf8)
        #expect(
            golden == help,
            """
            \(path.joined(separator: " ")) --help differs from \(file.lastPathComponent); after an intended change run \
            COMFYLOCK_UPDATE_GOLDEN=1 swift test --filter GoldenHelpTests and review the diff.
            """)
    }

    @Test("there is no golden file without a command, and the tree is complete")
    func noStaleGoldenFiles() throws {
        let expected = Set(Self.commands().map { Self.fileName($0.path) })
        #expect(expected.count > 30, "the walk found only \(expected.count) commands")
        #expect(expected.contains("comfy-cli-lock-diff.txt") && expected.contains("comfy-cli-gcs-upload.txt"))
        guard !Self.updating else { return }
        let present = Set(try FileManager.default.contentsOfDirectory(atPath: Self.directory.path))
        #expect(
            present == expected,
            "stale: \(present.subtracting(expected).sorted()); missing: \(expected.subtracting(present).sorted())")
    }
}
