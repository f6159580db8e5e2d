public import ComfyLock
import ComfySupport
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The state of one locked model under a models root, and what `--fix` did about it.
public struct ModelCheck: Sendable, Codable, Hashable {
    /// The verdict.
    public enum Status: String, Sendable, Codable, Hashable {
        /// Present with the locked size and hash.
        case ok
        /// Not there.
        case missing
        /// Present with another size (not hashed).
        case sizeMismatch = "size-mismatch"
        /// Present with the right size and another hash.
        case hashMismatch = "hash-mismatch"
    }

    /// The lock's relative path.
    public var path: String
    /// The verdict before any fix.
    public var status: Status
    /// The locked size.
    public var expectedSize: Int64
    /// The size found, if the file exists.
    public var actualSize: Int64?
    /// The locked SHA-256.
    public var expectedSHA256: String
    /// The SHA-256 found, if it was computed (or cached).
    public var actualSHA256: String?
    /// True when the stat cache answered (no read).
    public var fromCache: Bool
    /// After `--fix`: whether the file is now correct (`nil` when no fix was attempted).
    public var fixed: Bool?
    /// After `--fix`: "store" or the (redacted) URL the blob came from.
    public var restoredFrom: String?
    /// After `--fix`: how the blob was placed.
    public var method: MaterializeMethod?
    /// Where a corrupt file was moved (never deleted).
    public var quarantinedTo: String?
    /// Why checking or fixing failed.
    public var error: String?

    /// True when the file is correct now (ok, or fixed).
    public var isGood: Bool { status == .ok || fixed == true }
}

/// Checks (and optionally restores) the models of a lock under a models root, several files at a time.
public struct ModelVerifier: Sendable {
    /// Where blobs come from first, and where the stat cache lives.
    public var store: ModelStore
    /// How many files are checked (hashed) at once.
    public var jobs: Int
    /// At most this many downloads at once, or nil (the default): as many as the store's `connectionBudget` lets
    /// run — many small files at once, big ranged ones with their connections each (docs/benchmarks.md, "many").
    public var downloadJobs: Int?
    /// How restored files are placed.
    public var mode: MaterializeMode

    /// A verifier over `store`.
    public init(store: ModelStore, jobs: Int = 4, downloadJobs: Int? = nil, mode: MaterializeMode = .auto) {
        self.store = store
        self.jobs = max(1, jobs)
        self.downloadJobs = downloadJobs.map { max(1, $0) }
        self.mode = mode
    }

    /// Something that happened while verifying, for progress displays.
    public enum Event: Sendable {
        /// A model was checked (before any fix).
        case checked(ModelCheck)
        /// A blob is downloading for `path`.
        case downloading(path: String, FetchProgress)
        /// A model was fixed or could not be.
        case fixed(ModelCheck)
    }

    /// The directory corrupt files under `root` are moved to: `<root>/.comfylock-quarantine`.
    public static func quarantineDirectory(root: URL) -> URL { root.appendingPathComponent(".comfylock-quarantine") }

    /// Checks every entry (and with `fix`, restores what is not ok: the bad file is quarantined, the blob is taken
    /// from the store, else fetched from the entry's sources in order, then materialized). Results are in the
    /// entries' order. `deep` ignores the stat cache. The size is checked before hashing (a wrong size is not
    /// hashed); `jobs` files are checked at a time, hashing on dedicated threads. Restores run beside the checks,
    /// `downloadJobs` at a time (default: as the store's connection budget allows). A bad file is moved (renamed,
    /// same file system) under `quarantineDirectory(root:)`, never deleted.
    public func verify(
        _ entries: [ModelEntry], root: URL, deep: Bool = false, fix: Bool = false,
        events: (@Sendable (Event) -> Void)? = nil
    ) async -> [ModelCheck] {
        enum Step: Sendable {
            case checked(Int, ModelCheck)
            case repaired(Int, ModelCheck)
        }
        var results = [ModelCheck?](repeating: nil, count: entries.count)
        let repairLimit = downloadJobs ?? Int.max
        await withTaskGroup(of: Step.self) { group in
            var next = 0
            var waiting: [(Int, ModelCheck)] = []
            var repairing = 0
            func launchCheck() {
                guard next < entries.count else { return }
                let index = next
                let entry = entries[index]
                next += 1
                group.addTask { .checked(index, await self.check(entry, root: root, deep: deep)) }
            }
            func launchRepairs() {
                while repairing < repairLimit, !waiting.isEmpty {
                    let (index, check) = waiting.removeFirst()
                    let entry = entries[index]
                    repairing += 1
                    group.addTask {
                        .repaired(index, await self.repair(entry, check: check, root: root, events: events))
                    }
                }
            }
            for _ in 0..<jobs { launchCheck() }
            for await step in group {
                switch step {
                case .checked(let index, let check):
                    events?(.checked(check))
                    if fix, check.status != .ok, check.error == nil || check.status == .missing {
                        waiting.append((index, check))
                        launchRepairs()
                    } else {
                        results[index] = check
                    }
                    launchCheck()
                case .repaired(let index, let check):
                    events?(.fixed(check))
                    results[index] = check
                    repairing -= 1
                    launchRepairs()
                }
            }
        }
        return results.map { $0! }
    }

    /// Checks one entry: missing, size (no read), then hash (stat cache unless `deep`).
    public func check(_ entry: ModelEntry, root: URL, deep: Bool) async -> ModelCheck {
        var check = ModelCheck(
            path: entry.path, status: .missing, expectedSize: entry.size, actualSize: nil,
            expectedSHA256: entry.sha256, actualSHA256: nil, fromCache: false)
        let target: URL
        do { target = try Self.target(for: entry.path, root: root) } catch {
            check.error = String(describing: error)
            return check
        }
        do {
            guard let st = try FileStat.of(path: target.path) else { return check }
            check.actualSize = st.size
            guard st.isRegularFile else {
                check.status = .sizeMismatch
                check.error = "\(target.path) is not a regular file"
                return check
            }
            guard st.size == entry.size else {
                check.status = .sizeMismatch
                return check
            }
            let cache = store.statCache
            let result = try await BlockingPool.shared.run { try cache.hash(path: target.path, deep: deep) }
            check.actualSHA256 = result.sha256
            check.fromCache = result.fromCache
            check.status = result.sha256 == entry.sha256 && result.size == entry.size ? .ok : .hashMismatch
        } catch {
            check.status = .hashMismatch
            check.error = String(describing: error)
        }
        return check
    }

    private func repair(
        _ entry: ModelEntry, check: ModelCheck, root: URL, events: (@Sendable (Event) -> Void)?
    ) async -> ModelCheck {
        var check = check
        check.error = nil
        do {
            let target = try Self.target(for: entry.path, root: root)
            if check.status != .missing, FS.exists(target.path) {
                store.statCache.forget(path: target.path)
                let moved = try ModelStore.quarantine(
                    target,
                    into: Self.quarantineDirectory(root: root).appendingPathComponent(
                        (entry.path as NSString).deletingLastPathComponent))
                check.quarantinedTo = moved.path
            }
            let path = entry.path
            let (_, origin) = try await store.ensureBlob(
                sha256: entry.sha256, size: entry.size, sources: entry.sources,
                progress: events.map { send in { @Sendable p in send(.downloading(path: path, p)) } })
            let store = self.store
            let mode = self.mode
            check.method = try await BlockingPool.shared.run {
                try store.materialize(sha256: entry.sha256, to: target, mode: mode)
            }
            switch origin {
            case .store: check.restoredFrom = "store"
            case .downloaded(let url): check.restoredFrom = url
            }
            check.fixed = true
        } catch {
            check.fixed = false
            check.error = String(describing: error)
        }
        return check
    }

    /// The target of a lock path under `root`, refusing absolute paths, `..`, empty or `.` components, NUL, and
    /// existing parents that resolve outside `root` (symlink escapes).
    public static func target(for path: String, root: URL) throws -> URL {
        guard !path.isEmpty else { throw ModelError.invalidPath(path, reason: "empty") }
        guard !path.hasPrefix("/") else { throw ModelError.invalidPath(path, reason: "expected a relative path") }
        guard !path.contains("\0"), !path.contains("\\") else {
            throw ModelError.invalidPath(path, reason: "NUL or backslash")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        for component in components where component.isEmpty || component == "." || component == ".." {
            throw ModelError.invalidPath(path, reason: "expected no empty, '.' or '..' components")
        }
        let rootPath = root.standardizedFileURL.resolvingSymlinksInPath().path
        let target = URL(fileURLWithPath: rootPath).appendingPathComponent(path)
        // Resolve the deepest existing parent: it must stay inside the root.
        var parent = target.deletingLastPathComponent()
        while !FS.exists(parent.path), parent.path.count > rootPath.count { parent.deleteLastPathComponent() }
        let resolved = parent.resolvingSymlinksInPath().path
        guard resolved == rootPath || resolved.hasPrefix(rootPath + "/") else {
            throw ModelError.invalidPath(path, reason: "its directory resolves outside \(rootPath)")
        }
        return target
    }
}
