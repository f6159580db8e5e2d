internal import ComfyCrypto
internal import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

extension PythonPinner {
    static func pinWithUV(
        _ request: PinRequest, files: [String], constraints: [String], scratch: String, toolchain: PythonToolchain,
        roots: RequirementRoots,
        labels: [String: String]
    ) async throws -> [PythonPackage] {
        let output = scratch + "/pylock.toml"
        var arguments = [
            "pip", "compile", "--no-config", "--quiet", "--format", "pylock.toml", "--python-version",
            request.pythonVersion, "--python-platform", try PythonPlatform.uvTarget(for: request.platform),
            "--index-url", request.resolverIndexURLs[0], "-o", output,
        ]
        for extra in request.resolverIndexURLs.dropFirst() { arguments += ["--extra-index-url", extra] }
        for constraint in constraints { arguments += ["--constraint", constraint] }
        arguments += files
        let result = try await ProcessRunner.execute(
            toolchain.uvCommand(arguments, workingDirectory: scratch, timeout: .seconds(1800)))
        guard result.termination.isSuccess else {
            let error = ProcessError.nonZeroExit(
                command: result.command, termination: result.termination, standardError: result.standardError)
            throw ResolverConflict.explain(
                resolverOutput: result.errorOutput + result.output, roots: roots, labels: labels, resolver: "uv",
                underlying: error)
        }
        let data: [UInt8]
        do {
            data = try BoundedInput.read(output, limits: .default, what: "pylock.toml")
        } catch {
            throw PythonError.invalidResolverOutput("uv's output: \(error.description)")
        }
        return try packages(fromPylock: String(decoding: data, as: UTF8.self))
    }

    /// Converts a `pylock.toml` document to pins. Wheels are kept (uv has already limited them to the target);
    /// the sdist is kept only for packages without a wheel.
    static func packages(fromPylock text: String) throws -> [PythonPackage] {
        let document: [String: TOMLValue]
        do {
            document = try TOMLReader.parse(text)
        } catch {
            throw PythonError.invalidResolverOutput("\(error)")
        }
        var result: [PythonPackage] = []
        for entry in document["packages"]?.array ?? [] {
            guard let name = entry["name"]?.string else {
                throw PythonError.invalidResolverOutput("a [[packages]] entry has no name")
            }
            let normalized = PythonNames.normalize(name)
            if let vcs = entry["vcs"] {
                guard let url = vcs["url"]?.string, let commit = vcs["commit-id"]?.string else {
                    throw PythonError.invalidResolverOutput("the vcs source of \(name) has no url or commit-id")
                }
                result.append(
                    PythonPackage(
                        name: normalized, version: entry["version"]?.string ?? "0", artifacts: [],
                        vcs: VCSPin(url: Redaction.redactURL(url), commit: commit)))
                continue
            }
            guard let version = entry["version"]?.string else {
                throw PythonError.invalidResolverOutput("package \(name) has no version")
            }
            if entry["directory"] != nil {
                throw PythonError.invalidRequirements(
                    "\(name) comes from a local directory, which cannot be pinned by hash; build a wheel and serve it "
                        + "from an index instead")
            }
            var artifacts: [PythonArtifact] = []
            for wheel in entry["wheels"]?.array ?? [] {
                artifacts.append(try artifact(wheel, package: name))
            }
            if artifacts.isEmpty, let sdist = entry["sdist"] { artifacts.append(try artifact(sdist, package: name)) }
            if artifacts.isEmpty, let archive = entry["archive"] {
                artifacts.append(try artifact(archive, package: name))
            }
            guard !artifacts.isEmpty else {
                throw PythonError.invalidResolverOutput("package \(name)==\(version) has no artifact for the target")
            }
            result.append(
                PythonPackage(
                    name: normalized, version: version, artifacts: artifacts.sorted { $0.filename < $1.filename },
                    vcs: nil))
        }
        return result
    }

    private static func artifact(_ value: TOMLValue, package: String) throws -> PythonArtifact {
        guard let url = value["url"]?.string ?? value["path"]?.string else {
            throw PythonError.invalidResolverOutput("an artifact of \(package) has no url")
        }
        guard let sha = value["hashes"]?["sha256"]?.string?.lowercased(), Hex.isLowercaseHex(sha, count: 64) else {
            throw PythonError.invalidResolverOutput("the artifact \(url) of \(package) has no sha256")
        }
        let filename = value["name"]?.string ?? PythonNames.filename(ofURL: url)
        return PythonArtifact(url: Redaction.redactURL(url), sha256: sha, filename: filename)
    }
}
