public import ComfyLock
import Foundation

/// One difference between a venv and the pins it should match.
public struct PythonDriftEntry: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The kind of difference.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Pinned but not installed.
        case missing
        /// Installed but not pinned (installer seed packages such as pip are not counted).
        case extra
        /// Installed at another version than pinned.
        case versionMismatch
        /// A VCS pin installed at another commit.
        case commitMismatch
        /// Installed from an artifact whose sha256 is not among the pinned ones (known from the install receipt or
        /// `direct_url.json`).
        case hashMismatch
        /// Files of the installed package differ from its `RECORD` (edited, deleted or truncated after install).
        case modifiedFiles
    }

    /// The kind of difference.
    public var kind: Kind
    /// Normalized package name.
    public var name: String
    /// What the pins say (version, commit or sha256), when relevant.
    public var expected: String?
    /// What is installed, when relevant.
    public var actual: String?
    /// Extra detail (e.g. the modified files).
    public var detail: String?

    /// Creates an entry.
    public init(kind: Kind, name: String, expected: String? = nil, actual: String? = nil, detail: String? = nil) {
        self.kind = kind
        self.name = name
        self.expected = expected
        self.actual = actual
        self.detail = detail
    }

    /// One line: "versionMismatch beta: pinned 2.0, installed 1.0".
    public var description: String {
        switch kind {
        case .missing: return "missing \(name)==\(expected ?? "?"): pinned but not installed"
        case .extra: return "extra \(name)==\(actual ?? "?"): installed but not pinned"
        case .versionMismatch: return "version \(name): pinned \(expected ?? "?"), installed \(actual ?? "?")"
        case .commitMismatch: return "commit \(name): pinned \(expected ?? "?"), installed \(actual ?? "?")"
        case .hashMismatch:
            return "hash \(name): installed artifact sha256 \(actual ?? "?") is not pinned (pins: \(expected ?? "?"))"
        case .modifiedFiles: return "files \(name): \(detail ?? "changed since install")"
        }
    }
}

/// The drift of a venv against a pin set.
public struct PythonDrift: Sendable, Hashable, Codable {
    /// Every difference, sorted by name then kind.
    public var entries: [PythonDriftEntry]
    /// Packages whose installed artifact hash could not be determined (no receipt, no `direct_url.json` hash):
    /// reported so the check is honest about what it did not verify; not drift.
    public var hashUnknown: [String]
    /// True when there is no difference.
    public var isClean: Bool { entries.isEmpty }
}

/// Options for a drift check.
public struct PythonDriftOptions: Sendable, Hashable {
    /// Unpinned packages that are not extra (installer seeds). Default: pip, setuptools, wheel, distribute.
    public var ignoredExtras: Set<String>
    /// Check files against `RECORD`: `nil` = not at all, `false` = existence and size (cheap, the default),
    /// `true` = also sha256 of every file (reads the whole install).
    public var verifyFiles: Bool?

    /// Creates options.
    public init(ignoredExtras: Set<String> = ["pip", "setuptools", "wheel", "distribute"], verifyFiles: Bool? = false) {
        self.ignoredExtras = ignoredExtras
        self.verifyFiles = verifyFiles
    }
}

/// Installed-vs-pins comparison.
///
/// Versions and commits come from the dist-info directories. Hash drift is decided from the install receipt
/// ComfyLock writes after each hash-checked install (the sha256 of the artifact actually installed): when the lock
/// now pins other hashes for the same version (a re-uploaded or rebuilt artifact), the package is `hashMismatch`.
/// A venv ComfyLock did not install has no receipt, so its hashes are reported as unknown rather than guessed.
/// Files changed after install are found through each dist's `RECORD`.
public enum PythonDriftCheck {
    /// Compares `venv` with `pins`.
    public static func check(
        _ venv: PythonVirtualEnvironment, against pins: PythonPins, options: PythonDriftOptions = PythonDriftOptions()
    ) throws -> PythonDrift {
        let installed = try PythonInstallation.packages(in: venv)
        let receipt = PythonInstallation.receipt(of: venv)
        return compare(installed: installed, receipt: receipt, pins: pins, options: options)
    }

    /// Compares an inspected install with `pins` (no file access except `RECORD` checks).
    public static func compare(
        installed: [InstalledPythonPackage], receipt: PythonInstallReceipt?, pins: PythonPins,
        options: PythonDriftOptions = PythonDriftOptions()
    ) -> PythonDrift {
        var entries: [PythonDriftEntry] = []
        var unknown: [String] = []
        let byName = Dictionary(installed.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let receiptByName = Dictionary(
            (receipt?.packages ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var pinnedNames: Set<String> = []
        for pin in pins.packages {
            let name = PythonNames.normalize(pin.name)
            pinnedNames.insert(name)
            guard let dist = byName[name] else {
                entries.append(PythonDriftEntry(kind: .missing, name: name, expected: pin.version))
                continue
            }
            if let vcs = pin.vcs {
                if let installedCommit = dist.vcs?.commit {
                    if installedCommit != vcs.commit {
                        entries.append(
                            PythonDriftEntry(
                                kind: .commitMismatch, name: name, expected: vcs.commit, actual: installedCommit))
                    }
                } else {
                    entries.append(
                        PythonDriftEntry(
                            kind: .commitMismatch, name: name, expected: vcs.commit, actual: "not a VCS install",
                            detail: "installed \(dist.version) from an index or file"))
                }
            } else if !versionsEqual(dist.version, pin.version) {
                entries.append(
                    PythonDriftEntry(kind: .versionMismatch, name: name, expected: pin.version, actual: dist.version))
                continue
            }
            if pin.vcs == nil {
                let pinned = Set(pin.artifacts.map { $0.sha256.lowercased() })
                let installedHash =
                    dist.archiveSHA256
                    ?? receiptByName[name].flatMap { entry in
                        versionsEqual(entry.version, dist.version) ? entry.sha256 : nil
                    }
                if let installedHash {
                    if !pinned.contains(installedHash) {
                        entries.append(
                            PythonDriftEntry(
                                kind: .hashMismatch, name: name, expected: pinned.sorted().joined(separator: ","),
                                actual: installedHash))
                    }
                } else {
                    unknown.append(name)
                }
            }
            if let deep = options.verifyFiles {
                let modified = PythonInstallation.verifyRecord(of: dist, deep: deep)
                if !modified.isEmpty {
                    let shown = modified.prefix(5).map { "\($0.path) (\($0.problem))" }.joined(separator: ", ")
                    let more = modified.count > 5 ? " and \(modified.count - 5) more" : ""
                    entries.append(
                        PythonDriftEntry(
                            kind: .modifiedFiles, name: name,
                            detail: "\(modified.count) file(s) changed: \(shown)\(more)"))
                }
            }
        }
        for dist in installed where !pinnedNames.contains(dist.name) && !options.ignoredExtras.contains(dist.name) {
            entries.append(PythonDriftEntry(kind: .extra, name: dist.name, actual: dist.version))
        }
        entries.sort { ($0.name, $0.kind.rawValue) < ($1.name, $1.kind.rawValue) }
        return PythonDrift(entries: entries, hashUnknown: unknown.sorted())
    }

    /// PEP 440-light equality: case-insensitive, trailing ".0" release segments ignored ("1.0" == "1").
    static func versionsEqual(_ a: String, _ b: String) -> Bool {
        func canonical(_ v: String) -> String {
            var parts = v.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            while parts.count > 1, parts.last == "0" { parts.removeLast() }
            return parts.joined(separator: ".")
        }
        return a == b || canonical(a) == canonical(b)
    }
}

/// The identity of a venv's package set, for `version digest`: directory-independent and sorted.
public enum PythonEnvironmentIdentity {
    /// One line per installed package (seed packages excluded): `name==version sha256:<artifact>` or
    /// `name==version vcs:<url>@<commit>`, or `sha256:unknown` when the artifact hash is not known. Two venvs built
    /// from the same lock in different directories give the same lines.
    public static func lines(
        of venv: PythonVirtualEnvironment, ignoring seeds: Set<String> = ["pip", "setuptools", "wheel", "distribute"]
    ) throws -> [String] {
        try entries(of: venv, ignoring: seeds).map { "\($0.package.name)==\($0.package.version) \($0.artifact)" }
            .sorted()
    }

    /// The installed distributions behind `lines(of:ignoring:)`, sorted by name, each with its artifact text
    /// (`sha256:<hex>`, `sha256:unknown` or `vcs:<url>@<commit>`). Used by `version compare`.
    static func entries(
        of venv: PythonVirtualEnvironment, ignoring seeds: Set<String> = ["pip", "setuptools", "wheel", "distribute"]
    ) throws -> [(package: InstalledPythonPackage, artifact: String)] {
        let installed = try PythonInstallation.packages(in: venv)
        let receipt = Dictionary(
            (PythonInstallation.receipt(of: venv)?.packages ?? []).map { ($0.name, $0) },
            uniquingKeysWith: { a, _ in a })
        var entries: [(package: InstalledPythonPackage, artifact: String)] = []
        for dist in installed {
            let pinned = receipt[dist.name] != nil
            if seeds.contains(dist.name) && !pinned { continue }
            if let vcs = dist.vcs {
                entries.append((dist, "vcs:\(vcs.url)@\(vcs.commit)"))
            } else {
                entries.append((dist, "sha256:\(dist.archiveSHA256 ?? receipt[dist.name]?.sha256 ?? "unknown")"))
            }
        }
        return entries
    }
}
