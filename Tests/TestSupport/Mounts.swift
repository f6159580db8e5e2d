import Foundation

/// Whether tests may mount file systems here (root, and a container that allows `mount`): probed once by mounting a
/// 64 KiB tmpfs on a temp directory and unmounting it. Tests that need real mounts (a full disk, ramfs, a volume)
/// are disabled with a message when this is false.
public enum Mounts {
    /// True when a tmpfs could be mounted and unmounted.
    public static let canMount: Bool = {
        guard geteuid() == 0, let dir = try? TemporaryDirectory() else { return false }
        defer { dir.remove() }
        let probe = (try? Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path]))?.status
        if probe == 0 { _ = try? Subprocess.run("/bin/umount", [dir.path]) }
        return probe == 0
    }()
}
