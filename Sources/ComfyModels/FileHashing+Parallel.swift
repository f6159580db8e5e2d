import ComfyCrypto
public import ComfySupport

/// The SHA-256 of one file, or why it could not be read.
public struct FileHashResult: Sendable, Hashable {
    /// The path as given.
    public var path: String
    /// 64 lowercase hex characters, when the file could be hashed.
    public var sha256: String?
    /// The number of bytes hashed.
    public var size: Int64?
    /// The error message, when the file could not be hashed.
    public var error: String?
}

/// Hashing many files at once (`comfy-cli models hash`): always reads the bytes (no stat cache).
public enum ParallelHashing {
    /// Hashes `paths`, at most `jobs` at a time on `pool`'s threads (so also at most the pool's width); results in
    /// the order of `paths`. Cancellation stops files not started yet (they report "cancelled").
    public static func sha256(
        of paths: [String], jobs: Int, pool: BlockingPool = .shared
    ) async -> [FileHashResult] {
        var results = [FileHashResult?](repeating: nil, count: paths.count)
        await withTaskGroup(of: (Int, FileHashResult).self) { group in
            var next = 0
            func launch() {
                guard next < paths.count else { return }
                let index = next
                let path = paths[index]
                next += 1
                group.addTask {
                    do {
                        let (digest, size) = try await pool.run { try SHA256.hashFile(atPath: path) }
                        return (index, FileHashResult(path: path, sha256: digest.hex, size: size))
                    } catch is CancellationError {
                        return (index, FileHashResult(path: path, error: "\(path): cancelled"))
                    } catch {
                        return (index, FileHashResult(path: path, error: "\(error)"))
                    }
                }
            }
            for _ in 0..<max(1, jobs) { launch() }
            for await (index, result) in group {
                results[index] = result
                launch()
            }
        }
        return results.map { $0! }
    }
}
