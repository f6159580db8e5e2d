import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether this process may `mount --bind` (root with CAP_SYS_ADMIN, not in a restricted container). Tried once
/// with two scratch directories; when it is not permitted the bind-mount test is skipped (and shown as skipped).
enum BindMount {
    static let isPermitted: Bool = {
        guard getuid() == 0, let temp = try? TemporaryDirectory(prefix: "bind-probe") else { return false }
        defer { temp.remove() }
        let a = temp.appending("a")
        let b = temp.appending("b")
        try? FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        guard let mounted = try? Subprocess.run("/bin/mount", ["--bind", a.path, b.path]), mounted.status == 0 else {
            return false
        }
        _ = try? Subprocess.run("/bin/umount", [b.path])
        return true
    }()
}

/// Issue 9 class 3: `version remove` deletes only versions, never crosses a mount point, leaves nothing behind,
/// and lock files in the versions root never follow a planted symlink.
@Suite("Security: version remove scope and lock files", .serialized)
struct RemovalSecurityTests {
    func leftovers(_ root: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter {
            $0.hasPrefix(".removing-") || $0.hasSuffix(".lock") || $0.hasPrefix(".staging-")
        }
    }

    @Test("a plain directory under the root is not a version: refused, untouched")
    func plainDirectoryRefused() async throws {
        let fixture = try RuntimeFixture()
        let plain = fixture.versions.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        try "keep".write(to: plain.appendingPathComponent("data.txt"), atomically: true, encoding: .utf8)
        // A forged metadata file naming another version does not make it one either.
        let forged = fixture.versions.appendingPathComponent("forged")
        try FileManager.default.createDirectory(at: forged, withIntermediateDirectories: true)
        try #"{"name":"other","lockDigest":"x","tag":"t","models":"shared","createdBy":"x"}"#.write(
            to: forged.appendingPathComponent(".comfylock-version.json"), atomically: true, encoding: .utf8)
        for name in ["plain", "forged"] {
            let result = try Subprocess.comfyCLI(
                ["version", "remove", name, "--yes"], environment: fixture.cliEnvironment)
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains("not a version made by comfylock"), "\(result.standardError)")
        }
        #expect(FileManager.default.fileExists(atPath: plain.appendingPathComponent("data.txt").path))
        #expect(FileManager.default.fileExists(atPath: forged.path))
        #expect(leftovers(fixture.versions).isEmpty, "\(leftovers(fixture.versions))")
    }

    @Test("a real version is removed and leaves no .removing-* or .NAME.lock behind")
    func removeLeavesNothing() async throws {
        let fixture = try RuntimeFixture()
        _ = try await fixture.builder().create(
            name: "v", lock: fixture.lock(), options: VersionCreateOptions(allowUnpinned: true))
        #expect(leftovers(fixture.versions).isEmpty, "create left \(leftovers(fixture.versions))")
        let result = try Subprocess.comfyCLI(["version", "remove", "v", "--yes"], environment: fixture.cliEnvironment)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("v").path))
        #expect(leftovers(fixture.versions).isEmpty, "\(leftovers(fixture.versions))")
    }

    @Test(
        "a bind mount inside a version (same file system) is never entered; nothing is deleted",
        .enabled(if: BindMount.isPermitted, "needs root and mount --bind"))
    func bindMountNotCrossed() async throws {
        let fixture = try RuntimeFixture()
        _ = try await fixture.builder().create(
            name: "v", lock: fixture.lock(), options: VersionCreateOptions(allowUnpinned: true))
        let outside = fixture.temp.appending("precious")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "do not delete".write(to: outside.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        let mountPoint = fixture.versions.appendingPathComponent("v/models/mnt")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mounted = try Subprocess.run("/bin/mount", ["--bind", outside.path, mountPoint.path])
        try #require(mounted.status == 0, "\(mounted.standardError)")
        defer { _ = try? Subprocess.run("/bin/umount", ["-l", mountPoint.path]) }
        // The premise: st_dev does not tell a bind mount of the same file system apart.
        var a = stat()
        var b = stat()
        #expect(lstat(mountPoint.path, &a) == 0 && lstat(fixture.versions.path, &b) == 0 && a.st_dev == b.st_dev)

        for args in [["version", "remove", "v", "--yes"], ["version", "remove", "v", "--dry-run"]] {
            let result = try Subprocess.comfyCLI(args, environment: fixture.cliEnvironment)
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains("mount point"), "\(result.standardError)")
        }
        #expect(FileManager.default.fileExists(atPath: outside.appendingPathComponent("file.txt").path))
        #expect(
            FileManager.default.fileExists(
                atPath: fixture.versions.appendingPathComponent("v/comfylock.lock.json").path))
        #expect(leftovers(fixture.versions).isEmpty, "\(leftovers(fixture.versions))")

        _ = try Subprocess.run("/bin/umount", [mountPoint.path])
        let after = try Subprocess.comfyCLI(["version", "remove", "v", "--yes"], environment: fixture.cliEnvironment)
        #expect(after.status == 0, "\(after.standardError)")
        #expect(FileManager.default.fileExists(atPath: outside.appendingPathComponent("file.txt").path))
    }

    @Test("a symlink planted as .NAME.lock is refused by version create and remove; its target is not created")
    func plantedLockSymlink() async throws {
        let fixture = try RuntimeFixture()
        let victim = fixture.temp.appending("victim-file")
        try FileManager.default.createDirectory(at: fixture.versions, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: VersionLayout.nameLock(root: fixture.versions, name: "v"), withDestinationPath: victim.path)
        await #expect(throws: (any Error).self) {
            try await fixture.builder().create(
                name: "v", lock: fixture.lock(), options: VersionCreateOptions(allowUnpinned: true))
        }
        let path = try fixture.write(fixture.lock())
        let cli = try Subprocess.comfyCLI(
            ["version", "create", "v", "--lock", path, "--allow-unpinned"], environment: fixture.cliEnvironment)
        #expect(cli.status == 2)
        #expect(cli.standardError.contains("symbolic link"), "\(cli.standardError)")
        #expect(!FileManager.default.fileExists(atPath: victim.path))
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("v").path))
    }
}
