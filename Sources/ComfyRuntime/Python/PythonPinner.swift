internal import ComfyCrypto
public import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One requirements input for pinning: a file on disk, or text read from elsewhere (e.g. `git show COMMIT:file`).
public struct RequirementsInput: Sendable, Hashable {
    /// How the input is named in messages and conflict chains (e.g. "ComfyUI/requirements.txt").
    public var label: String
    /// The file on disk, when the input is a file (its `-r` includes then work relative to it).
    public var path: String?
    /// The text, when the input is not a file.
    public var contents: String?
    /// The largest file accepted (a file is read through `BoundedInput`: a regular file, at most this many bytes).
    public var limits: InputLimits = .default

    /// A requirements file on disk (a relative path is taken from the current directory), read through
    /// `BoundedInput` with `limits`.
    public static func file(_ path: String, label: String? = nil, limits: InputLimits = .default) -> RequirementsInput {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return RequirementsInput(label: label ?? path, path: absolute, contents: nil, limits: limits)
    }

    /// Requirements given as text.
    public static func text(_ contents: String, label: String) -> RequirementsInput {
        RequirementsInput(label: label, path: nil, contents: contents)
    }

    /// The input's text (read from disk for files, bounded: regular files only, at most `limits.maxBytes`).
    public func read() throws -> String {
        if let contents { return contents }
        guard let path else {
            throw PythonError.invalidRequirements("no requirements text for \(Escaping.quoted(label))")
        }
        do {
            return String(decoding: try BoundedInput.read(path, limits: limits, what: "requirements"), as: UTF8.self)
        } catch {
            throw PythonError.invalidRequirements("cannot read the requirements file: \(error)")
        }
    }
}

/// What to pin and for which target.
public struct PinRequest: Sendable, Hashable {
    /// The requirements, resolved together.
    public var requirements: [RequirementsInput]
    /// Target Python version ("3.11" or "3.11.7").
    public var pythonVersion: String
    /// Target platform tag (e.g. `manylinux_2_36_x86_64`); artifacts are limited to ones installable there.
    public var platform: String
    /// Index URLs, primary first (default: PyPI's simple index). These are what the pins record.
    public var indexURLs: [String]
    /// Package mirror rules: the resolver is pointed at the rewritten index URLs, and the artifact URLs it returns
    /// are restored to the original hosts, so the pins never name the mirror.
    public var mirrors: URLRewriter
    /// Constraints (`-c`): they limit the versions a package may take without adding it to the closure. Lock edits
    /// pass the lock's current pins here so that adding or removing a node moves nothing it does not have to.
    /// Their lines are named in conflict explanations under their label.
    public var constraints: [RequirementsInput]

    /// Creates a request.
    public init(
        requirements: [RequirementsInput], pythonVersion: String, platform: String,
        indexURLs: [String] = [PythonInstaller.defaultIndexURL], mirrors: URLRewriter = URLRewriter(),
        constraints: [RequirementsInput] = []
    ) {
        self.constraints = constraints
        self.requirements = requirements
        self.pythonVersion = pythonVersion
        self.platform = platform
        self.indexURLs = indexURLs.isEmpty ? [PythonInstaller.defaultIndexURL] : indexURLs
        self.mirrors = mirrors
    }

    /// The index URLs the resolver is given (mirrored).
    var resolverIndexURLs: [String] { indexURLs.map { mirrors.rewrite($0, kind: .package) } }
}

/// Resolves requirements to exact pins: for the whole dependency closure, the exact version and every artifact
/// (URL + sha256) installable on the target platform.
///
/// With uv: `uv pip compile --format pylock.toml` (PEP 751), which carries versions, artifact URLs and hashes for the
/// target given by `--python-version` / `--python-platform`. Without uv: `pip install --dry-run --ignore-installed
/// --report` with `--python-version` / `--platform` / `--only-binary=:all:`, which gives one artifact per package.
/// A conflict is reported with the requirement chains that clash (see `ResolverConflict`).
public enum PythonPinner {
    /// Pins `request` with the toolchain's resolver.
    public static func pin(_ request: PinRequest, toolchain: PythonToolchain) async throws -> PythonPins {
        guard !request.requirements.isEmpty else {
            throw PythonError.invalidRequirements("nothing to pin: give at least one requirements file")
        }
        let roots = try RequirementRoots(request.requirements + request.constraints)
        let scratch = try ScratchDirectory(prefix: "comfylock-pin")
        defer { scratch.remove() }
        var files: [String] = []
        var constraintFiles: [String] = []
        var labels: [String: String] = [:]
        for (i, input) in (request.requirements + request.constraints).enumerated() {
            let file: String
            if let path = input.path {
                file = path
            } else {
                file = scratch.path + "/requirements-\(i).txt"
                try AtomicFile.write(Array((input.contents ?? "").utf8), to: file)
            }
            labels[file] = input.label
            if i < request.requirements.count { files.append(file) } else { constraintFiles.append(file) }
        }
        var packages: [PythonPackage]
        if toolchain.uv != nil {
            packages = try await pinWithUV(
                request, files: files, constraints: constraintFiles, scratch: scratch.path, toolchain: toolchain,
                roots: roots, labels: labels)
        } else {
            packages = try await pinWithPip(
                request, files: files, constraints: constraintFiles, scratch: scratch.path, toolchain: toolchain,
                roots: roots, labels: labels)
        }
        if request.mirrors.hasRules(for: .package) {
            packages = packages.map { package in
                var package = package
                package.artifacts = package.artifacts.map { artifact in
                    var artifact = artifact
                    artifact.url = request.mirrors.restore(artifact.url, kind: .package)
                    return artifact
                }
                return package
            }
        }
        return PythonPins(
            version: request.pythonVersion, platform: request.platform, indexUrls: request.indexURLs,
            packages: packages.sorted { $0.name < $1.name })
    }
}
