internal import ComfyCrypto
public import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Options for installing a pin set.
public struct PythonInstallOptions: Sendable, Hashable {
    /// No network at all: install only from `wheelhouse` (uv: `--offline --no-index --find-links`; pip:
    /// `--no-index --find-links`).
    public var offline: Bool
    /// A directory of artifacts (see `comfy-cli pin wheelhouse`); required when `offline`.
    public var wheelhouse: String?
    /// Index URLs to use instead of the pins' `indexUrls` (a mirror); the first is the primary index.
    public var indexURLs: [String]?
    /// Online installs with uv first try uv's cache alone (`--offline`) and go to the index only when something is
    /// missing: a warm rebuild then makes no network request. Hashes are checked either way.
    public var preferCache: Bool
    /// Per-command time limit.
    public var timeout: Duration
    /// Install pins without any artifact hash as `name==version` (unverified, `--no-deps`) instead of refusing them
    /// (`version create --allow-unpinned`).
    public var allowUnhashed: Bool
    /// Package mirror rules applied to the index URLs handed to uv/pip (`COMFYLOCK_PACKAGE_MIRROR`).
    public var mirrors: URLRewriter

    /// Creates options; the defaults install online from the pins' indexes.
    public init(
        offline: Bool = false, wheelhouse: String? = nil, indexURLs: [String]? = nil, preferCache: Bool = true,
        timeout: Duration = .seconds(3600), allowUnhashed: Bool = false, mirrors: URLRewriter = URLRewriter()
    ) {
        self.mirrors = mirrors
        self.allowUnhashed = allowUnhashed
        self.offline = offline
        self.wheelhouse = wheelhouse
        self.indexURLs = indexURLs
        self.preferCache = preferCache
        self.timeout = timeout
    }
}

/// What an install did.
public struct PythonInstallReport: Sendable, Hashable {
    /// "uv" or "pip".
    public var installer: String
    /// How many pinned packages were installed (hash-checked artifacts plus VCS pins).
    public var packageCount: Int
    /// True when the install was served from uv's cache without contacting an index.
    public var servedFromCache: Bool
    /// The receipt written into the venv.
    public var receipt: PythonInstallReceipt
}

/// Installs a lock's pin set into a venv, always hash-checked.
///
/// The whole pin set is installed in one `--require-hashes --no-deps` call: the installer never resolves, never
/// picks another version, and refuses any artifact whose sha256 is not one of the pinned ones. VCS pins cannot be
/// hash-checked by pip or uv, so they are installed in a second `--no-deps` call at their exact commit (a git commit
/// is itself a content hash).
public enum PythonInstaller {
    /// The PyPI simple index, used when the pins name no index.
    public static let defaultIndexURL = "https://pypi.org/simple"

    /// Installs `pins` into `venv` with the toolchain's installer and writes the install receipt.
    public static func install(
        _ pins: PythonPins, into venv: PythonVirtualEnvironment, toolchain: PythonToolchain,
        options: PythonInstallOptions = PythonInstallOptions()
    ) async throws -> PythonInstallReport {
        let (hashed, vcs, unhashed) = try requirementLines(for: pins, allowUnhashed: options.allowUnhashed)
        if options.offline {
            guard let wheelhouse = options.wheelhouse else {
                throw PythonError.wheelhouseMissing("(no --wheelhouse given for an offline install)")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: wheelhouse, isDirectory: &isDirectory), isDirectory.boolValue
            else { throw PythonError.wheelhouseMissing(wheelhouse) }
        }
        let scratch = try ScratchDirectory(prefix: "comfylock-pip")
        defer { scratch.remove() }
        var servedFromCache = false
        if !hashed.isEmpty {
            let requirements = scratch.path + "/requirements.txt"
            try AtomicFile.write(Array((hashed.joined(separator: "\n") + "\n").utf8), to: requirements)
            servedFromCache = try await run(
                requirements: requirements, hashChecked: true, pins: pins, venv: venv, toolchain: toolchain,
                options: options, scratch: scratch.path, what: "\(hashed.count) pinned packages")
        }
        if !vcs.isEmpty {
            let requirements = scratch.path + "/vcs-requirements.txt"
            try AtomicFile.write(Array((vcs.joined(separator: "\n") + "\n").utf8), to: requirements)
            _ = try await run(
                requirements: requirements, hashChecked: false, pins: pins, venv: venv, toolchain: toolchain,
                options: options, scratch: scratch.path, what: "\(vcs.count) VCS pins")
        }
        if !unhashed.isEmpty {
            let requirements = scratch.path + "/unhashed-requirements.txt"
            try AtomicFile.write(Array((unhashed.joined(separator: "\n") + "\n").utf8), to: requirements)
            _ = try await run(
                requirements: requirements, hashChecked: false, pins: pins, venv: venv, toolchain: toolchain,
                options: options, scratch: scratch.path, what: "\(unhashed.count) unpinned packages (--allow-unpinned)")
        }
        if toolchain.uv == nil {
            // pip writes absolute shebangs: make them relative so the venv survives being renamed into place.
            try venv.makeScriptsRelocatable()
        }
        let receipt = try makeReceipt(pins: pins, venv: venv, installer: toolchain.installer.rawValue)
        try PythonInstallation.writeReceipt(receipt, to: venv)
        return PythonInstallReport(
            installer: toolchain.installer.rawValue, packageCount: hashed.count + vcs.count + unhashed.count,
            servedFromCache: servedFromCache, receipt: receipt)
    }

    /// The requirement lines for a pin set: `name==version --hash=sha256:…` for every package with artifacts, and
    /// `name @ git+URL@COMMIT` for VCS pins.
    static func requirementLines(
        for pins: PythonPins, allowUnhashed: Bool = false
    ) throws -> (hashed: [String], vcs: [String], unhashed: [String]) {
        var hashed: [String] = []
        var vcs: [String] = []
        var unhashed: [String] = []
        for package in pins.packages.sorted(by: { $0.name < $1.name }) {
            if let pin = package.vcs {
                let url = pin.url.hasPrefix("git+") ? pin.url : "git+" + pin.url
                vcs.append("\(package.name) @ \(url)@\(pin.commit)")
                continue
            }
            let hashes = Set(
                package.artifacts.map { $0.sha256.lowercased() }.filter { Hex.isLowercaseHex($0, count: 64) })
            guard !hashes.isEmpty else {
                guard allowUnhashed else { throw PythonError.unhashedPin(package.name, version: package.version) }
                unhashed.append("\(package.name)==\(package.version)")
                continue
            }
            hashed.append(
                "\(package.name)==\(package.version) "
                    + hashes.sorted().map { "--hash=sha256:\($0)" }.joined(separator: " "))
        }
        return (hashed, vcs, unhashed)
    }

    /// Runs one install; returns true when uv served it from its cache alone.
    private static func run(
        requirements: String, hashChecked: Bool, pins: PythonPins, venv: PythonVirtualEnvironment,
        toolchain: PythonToolchain, options: PythonInstallOptions, scratch: String, what: String
    ) async throws -> Bool {
        let indexes = (options.indexURLs ?? (pins.indexUrls.isEmpty ? [defaultIndexURL] : pins.indexUrls))
            .map { options.mirrors.rewrite($0, kind: .package) }
        var sourceArguments: [String] = []
        if options.offline {
            sourceArguments = ["--no-index", "--find-links", options.wheelhouse ?? ""]
        } else {
            sourceArguments = ["--index-url", indexes[0]]
            for extra in indexes.dropFirst() { sourceArguments += ["--extra-index-url", extra] }
        }
        var base = ["--no-deps", "-r", requirements]
        if hashChecked { base.insert("--require-hashes", at: 0) }
        do {
            if toolchain.uv != nil {
                let common =
                    [
                        "pip", "install", "--no-config", "--quiet", "--python", venv.python, "--link-mode",
                        toolchain.effectiveLinkMode,
                    ] + base
                if options.offline {
                    try await ProcessRunner.run(
                        toolchain.uvCommand(
                            common + ["--offline"] + sourceArguments, workingDirectory: scratch,
                            timeout: options.timeout))
                    return false
                }
                if options.preferCache {
                    // Cache-only attempt: succeeds without any network request when every artifact is cached.
                    let attempt = try await ProcessRunner.execute(
                        toolchain.uvCommand(
                            common + ["--offline"] + sourceArguments, workingDirectory: scratch,
                            timeout: options.timeout))
                    if attempt.termination.isSuccess { return true }
                }
                try await ProcessRunner.run(
                    toolchain.uvCommand(common + sourceArguments, workingDirectory: scratch, timeout: options.timeout))
                return false
            }
            let arguments =
                [
                    "-I", "-m", "pip", "--isolated", "install", "--no-input", "--disable-pip-version-check",
                    "--no-warn-script-location", "--quiet",
                ] + base + sourceArguments
            try await ProcessRunner.run(
                ProcessCommand(
                    venv.python, arguments, environment: HermeticPython.setVariables(),
                    removedEnvironment: HermeticPython.removedVariables(), workingDirectory: scratch,
                    timeout: options.timeout))
            return false
        } catch {
            throw PythonError.installFailed(what, venv: venv.root, underlying: error)
        }
    }

    /// Matches each pinned package to the installed dist and records which artifact was installed.
    static func makeReceipt(
        pins: PythonPins, venv: PythonVirtualEnvironment, installer: String
    ) throws -> PythonInstallReceipt {
        let installed = Dictionary(
            try PythonInstallation.packages(in: venv).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var entries: [PythonInstallReceipt.Entry] = []
        for package in pins.packages.sorted(by: { $0.name < $1.name }) {
            let name = PythonNames.normalize(package.name)
            let dist = installed[name]
            let artifact = dist.flatMap { PythonArtifactMatching.installedArtifact(of: $0, among: package.artifacts) }
            entries.append(
                .init(
                    name: name, version: dist?.version ?? package.version, sha256: artifact?.sha256.lowercased(),
                    filename: artifact?.filename,
                    acceptedSHA256: package.artifacts.map { $0.sha256.lowercased() }.sorted(),
                    vcsCommit: dist?.vcs?.commit ?? package.vcs?.commit))
        }
        return PythonInstallReceipt(installer: installer, packages: entries)
    }
}

/// Which of a package's artifacts an installed dist came from.
public enum PythonArtifactMatching {
    /// The artifact whose wheel tags equal the installed dist's `WHEEL` tags (then: any tag in common); when the
    /// dist was built from an sdist (no wheel matches) and the pins hold exactly one sdist, that sdist. `nil` when
    /// it cannot be decided. A `direct_url.json` archive hash wins over tags.
    public static func installedArtifact(
        of dist: InstalledPythonPackage, among artifacts: [PythonArtifact]
    ) -> PythonArtifact? {
        if let sha = dist.archiveSHA256, let hit = artifacts.first(where: { $0.sha256.lowercased() == sha }) {
            return hit
        }
        let installedTags = Set(dist.wheelTags)
        var wheels: [(PythonArtifact, Set<String>)] = []
        var sdists: [PythonArtifact] = []
        for artifact in artifacts {
            if let parsed = PythonNames.parseWheelFilename(artifact.filename) {
                guard
                    parsed.version == dist.version
                        || normalizedVersion(parsed.version) == normalizedVersion(dist.version)
                else { continue }
                wheels.append((artifact, parsed.tags))
            } else if PythonNames.parseSdistFilename(artifact.filename) != nil {
                sdists.append(artifact)
            }
        }
        let exact = wheels.filter { $0.1 == installedTags }
        if exact.count == 1 { return exact[0].0 }
        let overlapping = wheels.filter { !$0.1.isDisjoint(with: installedTags) }
        if overlapping.count == 1 { return overlapping[0].0 }
        if overlapping.isEmpty, sdists.count == 1 { return sdists[0] }
        if artifacts.count == 1 { return artifacts[0] }
        return nil
    }

    private static func normalizedVersion(_ version: String) -> String { version.lowercased() }
}

/// A temporary directory for installer inputs, removed after use.
struct ScratchDirectory {
    let path: String

    init(prefix: String) throws {
        // NSTemporaryDirectory() ends with "/": no second slash.
        let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        var template = Array((base + "\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else {
            throw PythonError.io("cannot create a temporary directory under \(NSTemporaryDirectory())")
        }
        path = String(cString: made)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
