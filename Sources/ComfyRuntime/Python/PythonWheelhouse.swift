import ComfyCrypto
public import ComfyLock
public import ComfyModels
import Foundation

/// One artifact of a wheelhouse build.
public struct WheelhouseEntry: Sendable, Hashable, Codable {
    /// What happened to it.
    public enum Status: String, Sendable, Hashable, Codable {
        /// Already in the directory with the pinned sha256.
        case present
        /// Taken from the content-addressed store (no network).
        case fromStore
        /// Downloaded and verified.
        case downloaded
    }

    /// Package name.
    public var package: String
    /// The artifact's filename in the wheelhouse.
    public var filename: String
    /// Its pinned sha256.
    public var sha256: String
    /// What happened.
    public var status: Status
}

/// The result of a wheelhouse build.
public struct WheelhouseReport: Sendable, Hashable, Codable {
    /// Every artifact, sorted by filename.
    public var entries: [WheelhouseEntry]
    /// VCS packages, which cannot be in a wheelhouse (an offline install needs their repository reachable).
    public var skippedVCS: [String]
}

/// Builds a wheelhouse for offline installs: every pinned artifact downloaded over ComfyTransport, verified against
/// its sha256 while it streams, and put at `DIR/<filename>`.
///
/// Downloads go through the content-addressed store (`ModelStore.fetch`): a wheel already there (from an earlier
/// wheelhouse) is not downloaded again; a file with the wrong hash never reaches the wheelhouse (the store keeps the
/// download in a `.partial` and refuses it); files already in the directory with the right hash are kept.
public enum PythonWheelhouse {
    /// Downloads every artifact of `pins` into `directory` (created if needed), `jobs` at a time, each from its URL
    /// as `rewriter` maps it (`.package` rules: a package mirror).
    public static func build(
        _ pins: PythonPins, into directory: String, store: ModelStore, jobs: Int = 4,
        rewriter: URLRewriter = URLRewriter()
    ) async throws -> WheelhouseReport {
        var work: [(package: String, artifact: PythonArtifact)] = []
        var skipped: [String] = []
        for package in pins.packages {
            if package.vcs != nil {
                skipped.append(package.name)
                continue
            }
            for artifact in package.artifacts {
                let name = artifact.filename
                guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.contains("\0") else {
                    throw PythonError.invalidRequirements(
                        "python.packages \(package.name): artifact filename \"\(name)\" is not a plain file name")
                }
                guard Hex.isLowercaseHex(artifact.sha256.lowercased(), count: 64) else {
                    throw PythonError.invalidRequirements(
                        "python.packages \(package.name): artifact \(name) has no valid sha256")
                }
                work.append((package.name, artifact))
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PythonError.io("cannot create the wheelhouse directory \(directory)", underlying: error)
        }
        var entries: [WheelhouseEntry] = []
        try await withThrowingTaskGroup(of: WheelhouseEntry.self) { group in
            var next = 0
            func addNext() {
                guard next < work.count else { return }
                let item = work[next]
                next += 1
                group.addTask {
                    try await fetch(
                        item.artifact, package: item.package, directory: directory, store: store, rewriter: rewriter)
                }
            }
            for _ in 0..<max(1, jobs) { addNext() }
            while let entry = try await group.next() {
                entries.append(entry)
                addNext()
            }
        }
        return WheelhouseReport(entries: entries.sorted { $0.filename < $1.filename }, skippedVCS: skipped.sorted())
    }

    private static func fetch(
        _ artifact: PythonArtifact, package: String, directory: String, store: ModelStore, rewriter: URLRewriter
    ) async throws -> WheelhouseEntry {
        let sha = artifact.sha256.lowercased()
        let target = directory + "/" + artifact.filename
        var entry = WheelhouseEntry(package: package, filename: artifact.filename, sha256: sha, status: .present)
        if FileManager.default.fileExists(atPath: target),
            let digest = try? SHA256.hashFile(atPath: target).digest, digest.hex == sha
        {
            return entry
        }
        do {
            let (origin, _) = try await store.fetch(
                sha256: sha, sources: [rewriter.rewrite(artifact.url, kind: .package)],
                to: URL(fileURLWithPath: target), mode: .auto)
            if case .store = origin { entry.status = .fromStore } else { entry.status = .downloaded }
            return entry
        } catch {
            throw PythonError.downloadFailed(rewriter.rewrite(artifact.url, kind: .package), underlying: error)
        }
    }
}
