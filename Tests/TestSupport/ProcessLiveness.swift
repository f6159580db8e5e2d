import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a child process is still there, for tests that prove no process outlives its parent or its job.
public enum ProcessLiveness {
    /// True while `pid` names a live process (not a zombie: `/proc/PID/stat` state `Z` or `X` counts as gone).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Waits (bounded) until `pid` is gone; returns whether it went.
    public static func waitUntilGone(_ pid: Int32, seconds: Double = 5) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !isAlive(pid) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !isAlive(pid)
    }
}
