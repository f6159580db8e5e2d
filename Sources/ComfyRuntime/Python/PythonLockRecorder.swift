public import ComfyLock
import Foundation

/// A package of a live venv whose artifact hash ComfyLock could not establish (it is reported, never invented).
public struct UnresolvedPythonPackage: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Normalized name.
    public var name: String
    /// Installed version.
    public var version: String
    /// Why no artifact was recorded.
    public var reason: String

    /// "name==version: reason".
    public var description: String { "\(name)==\(version): \(reason)" }
}

/// The Python part of `lock create`: the packages of a live venv with their artifacts.
public struct RecordedPythonPackages: Sendable, Hashable {
    /// Packages for the lock's `python.packages`, sorted by name. Packages without a known hash are included
    /// with no artifacts only when `includeUnresolved` was set; otherwise they are left out and listed in `unresolved`.
    public var packages: [PythonPackage]
    /// Packages whose artifact hash is unknown.
    public var unresolved: [UnresolvedPythonPackage]
}

/// Records the packages installed in a venv as lock pins.
///
/// Versions and VCS commits come from the dist-info directories (what `pip inspect` reports). Artifact URLs and
/// hashes come, in order, from: the `known` pin set (a previous lock, or `pin` output) when it has the same name and
/// version — all of its artifacts are kept so the lock stays installable on the pinned platform; `direct_url.json`
/// when the package was installed from a URL with a recorded hash; with `lookup`, the index's listing of the wheel
/// whose name, version and tags equal the installed dist's. Anything else is unresolved.
public enum PythonLockRecorder {
    /// `record` plus, for every package the pin set and `direct_url.json` do not cover, an index lookup and then
    /// — when the index cannot say (unreachable, or no exact wheel) — the installers' caches
    /// (`PythonInstallerCaches`: uv's wheel pointers, pip's HTTP cache, wheel files, each checked against the
    /// installed `RECORD`). What no source resolves stays unresolved, with every source's reason.
    public static func record(
        _ venv: PythonVirtualEnvironment, known: PythonPins?, lookup: PythonIndexLookup?,
        caches: PythonInstallerCaches? = nil, includeUnresolved: Bool = false
    ) async throws -> RecordedPythonPackages {
        var recorded = try record(venv, known: known, includeUnresolved: false)
        let caches = caches.flatMap { $0.isEmpty ? nil : $0 }
        guard lookup != nil || caches != nil, !recorded.unresolved.isEmpty else {
            if includeUnresolved { recorded = try record(venv, known: known, includeUnresolved: true) }
            return recorded
        }
        let installed = Dictionary(
            try PythonInstallation.packages(in: venv).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var still: [UnresolvedPythonPackage] = []
        for missing in recorded.unresolved {
            guard let dist = installed[missing.name], dist.vcs == nil else {
                still.append(missing)
                continue
            }
            var reasons: [String] = []
            var found: PythonArtifact?
            if let lookup {
                let (artifact, reason) = await lookup.artifact(for: dist)
                found = artifact
                if artifact == nil { reasons.append("index lookup: \(reason)") }
            }
            // A wheel whose WHEEL tags differ from its file name's (PyTorch's torchvision, torchaudio): the installer
            // cache names the exact file (checked against the RECORD); the index gives that file's URL and sha256.
            if found == nil, let lookup, let caches,
                let filename = await caches.installedWheelFilename(for: dist, python: venv.python)
            {
                let (artifact, reason) = await lookup.artifact(for: dist, exactFilename: filename)
                found = artifact
                if artifact == nil { reasons.append("index lookup of \(filename) (the installed wheel): \(reason)") }
            }
            if found == nil, let caches {
                let (artifact, reason) = await caches.artifact(
                    for: dist, indexURLs: lookup?.indexURLs ?? [PythonInstaller.defaultIndexURL], python: venv.python)
                found = artifact
                if artifact == nil { reasons.append("installer caches: \(reason)") }
            }
            if let artifact = found {
                recorded.packages.append(
                    PythonPackage(name: dist.name, version: dist.version, artifacts: [artifact], vcs: nil))
            } else {
                var entry = missing
                entry.reason += reasons.map { "; " + $0 }.joined()
                still.append(entry)
                if includeUnresolved {
                    recorded.packages.append(
                        PythonPackage(name: dist.name, version: dist.version, artifacts: [], vcs: nil))
                }
            }
        }
        recorded.packages.sort { $0.name < $1.name }
        recorded.unresolved = still
        return recorded
    }

    /// Records `venv`'s packages. Seed packages (pip, setuptools, wheel) are skipped unless `known` pins them.
    public static func record(
        _ venv: PythonVirtualEnvironment, known: PythonPins?, includeUnresolved: Bool = false,
        seeds: Set<String> = ["pip", "setuptools", "wheel", "distribute"]
    ) throws -> RecordedPythonPackages {
        let installed = try PythonInstallation.packages(in: venv)
        let knownByName = Dictionary(
            (known?.packages ?? []).map { (PythonNames.normalize($0.name), $0) }, uniquingKeysWith: { a, _ in a })
        var packages: [PythonPackage] = []
        var unresolved: [UnresolvedPythonPackage] = []
        for dist in installed {
            let pinned = knownByName[dist.name]
            if seeds.contains(dist.name) && pinned == nil { continue }
            if let vcs = dist.vcs {
                packages.append(
                    PythonPackage(
                        name: dist.name, version: dist.version, artifacts: [],
                        vcs: VCSPin(url: vcs.url, commit: vcs.commit)))
                continue
            }
            if let pinned, PythonDriftCheck.versionsEqual(pinned.version, dist.version), !pinned.artifacts.isEmpty {
                packages.append(
                    PythonPackage(
                        name: dist.name, version: dist.version,
                        artifacts: pinned.artifacts.sorted { $0.filename < $1.filename }, vcs: nil))
                continue
            }
            if let url = dist.archiveURL, let sha = dist.archiveSHA256, !url.hasPrefix("file:") {
                let artifact = PythonArtifact(url: url, sha256: sha, filename: PythonNames.filename(ofURL: url))
                packages.append(PythonPackage(name: dist.name, version: dist.version, artifacts: [artifact], vcs: nil))
                continue
            }
            let reason: String
            if let pinned {
                reason = "the pin set has \(pinned.name)==\(pinned.version), the venv has \(dist.version)"
            } else if dist.archiveURL?.hasPrefix("file:") == true {
                reason = "installed from a local file with no source URL"
            } else {
                reason = "not in the pin set and installed without a recorded artifact hash (run `comfy-cli pin`)"
            }
            unresolved.append(UnresolvedPythonPackage(name: dist.name, version: dist.version, reason: reason))
            if includeUnresolved {
                packages.append(PythonPackage(name: dist.name, version: dist.version, artifacts: [], vcs: nil))
            }
        }
        return RecordedPythonPackages(packages: packages, unresolved: unresolved)
    }
}
