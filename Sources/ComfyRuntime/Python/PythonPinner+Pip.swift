internal import ComfyCrypto
internal import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

extension PythonPinner {
    static func pinWithPip(
        _ request: PinRequest, files: [String], constraints: [String], scratch: String, toolchain: PythonToolchain,
        roots: RequirementRoots,
        labels: [String: String]
    ) async throws -> [PythonPackage] {
        let report = scratch + "/report.json"
        var arguments = [
            "-I", "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed", "--no-input",
            "--disable-pip-version-check", "--target", scratch + "/target", "--report", report, "--python-version",
            request.pythonVersion, "--only-binary=:all:", "--index-url", request.resolverIndexURLs[0],
        ]
        for platform in PythonPlatform.pipPlatforms(for: request.platform) { arguments += ["--platform", platform] }
        for extra in request.resolverIndexURLs.dropFirst() { arguments += ["--extra-index-url", extra] }
        for file in files { arguments += ["-r", file] }
        for constraint in constraints { arguments += ["-c", constraint] }
        let result = try await ProcessRunner.execute(
            ProcessCommand(
                toolchain.interpreter.path, arguments, environment: HermeticPython.setVariables(),
                removedEnvironment: HermeticPython.removedVariables(), workingDirectory: scratch,
                timeout: .seconds(1800)))
        guard result.termination.isSuccess else {
            let error = ProcessError.nonZeroExit(
                command: result.command, termination: result.termination, standardError: result.standardError)
            throw ResolverConflict.explain(
                resolverOutput: result.errorOutput + result.output, roots: roots, labels: labels, resolver: "pip",
                underlying: error)
        }
        guard let bytes = try? BoundedInput.read(report, limits: .default, what: "pip report"),
            let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let install = json["install"] as? [[String: Any]]
        else { throw PythonError.invalidResolverOutput("pip wrote no readable report at \(report)") }
        var packages: [PythonPackage] = []
        for item in install {
            guard let metadata = item["metadata"] as? [String: Any], let name = metadata["name"] as? String,
                let version = metadata["version"] as? String, let download = item["download_info"] as? [String: Any],
                let url = download["url"] as? String
            else { throw PythonError.invalidResolverOutput("a pip report entry lacks name, version or URL") }
            if let vcs = download["vcs_info"] as? [String: Any], let commit = vcs["commit_id"] as? String {
                packages.append(
                    PythonPackage(
                        name: PythonNames.normalize(name), version: version, artifacts: [],
                        vcs: VCSPin(url: Redaction.redactURL(url), commit: commit)))
                continue
            }
            let archive = download["archive_info"] as? [String: Any]
            let hashes = archive?["hashes"] as? [String: Any]
            guard let sha = (hashes?["sha256"] as? String)?.lowercased() else {
                throw PythonError.invalidResolverOutput("pip reported no sha256 for \(name) (\(url))")
            }
            packages.append(
                PythonPackage(
                    name: PythonNames.normalize(name), version: version,
                    artifacts: [
                        PythonArtifact(
                            url: Redaction.redactURL(url), sha256: sha, filename: PythonNames.filename(ofURL: url))
                    ], vcs: nil))
        }
        return packages
    }
}
