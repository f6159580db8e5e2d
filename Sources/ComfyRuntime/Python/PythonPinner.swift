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

    private static func pinWithUV(
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
        guard let data = FileManager.default.contents(atPath: output) else {
            throw PythonError.invalidResolverOutput("uv wrote no \(output)")
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

    private static func pinWithPip(
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
        guard let data = FileManager.default.contents(atPath: report),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
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

/// The top-level requirement names of each input, for conflict chains.
struct RequirementRoots: Sendable {
    /// name → [(input label, the requirement line)]
    var byName: [String: [(label: String, line: String)]] = [:]
    /// (input label, 1-based line number) → name
    var byLine: [String: String] = [:]

    init(_ inputs: [RequirementsInput]) throws {
        for input in inputs {
            let lines = try input.read().split(separator: "\n", omittingEmptySubsequences: false)
            for (number, raw) in lines.enumerated() {
                guard let (name, line) = Self.parse(String(raw)) else { continue }
                byName[name, default: []].append((input.label, line))
                byLine["\(input.label):\(number + 1)"] = name
            }
        }
    }

    /// Root names a resolver mentions as "Cannot install A, -r FILE (line N) and B because ...".
    func mentioned(in text: String) -> [String] {
        guard let start = text.range(of: "Cannot install "),
            let end = text.range(of: " because", range: start.upperBound..<text.endIndex)
        else { return [] }
        var names: [String] = []
        let list = text[start.upperBound..<end.lowerBound].replacingOccurrences(of: " and ", with: ", ")
        for item in list.components(separatedBy: ", ") {
            let item = item.trimmingCharacters(in: .whitespaces)
            if item.hasPrefix("-r "), let open = item.range(of: " (line ", options: .backwards) {
                let label = String(item[item.index(item.startIndex, offsetBy: 3)..<open.lowerBound])
                let number = item[open.upperBound...].prefix { $0.isNumber }
                if let name = byLine["\(label):\(number)"] { names.append(name) }
            } else if let (name, _) = Self.parse(item), byName[name] != nil {
                names.append(name)
            }
        }
        return names
    }

    /// `(normalized name, requirement text)` of one requirements line, or nil for comments/options/blank lines.
    static func parse(_ raw: String) -> (String, String)? {
        var line = raw
        if let hash = line.range(of: " #") ?? (line.hasPrefix("#") ? line.range(of: "#") : nil) {
            line = String(line[..<hash.lowerBound])
        }
        line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty, !line.hasPrefix("-") else { return nil }
        if let at = line.range(of: "#egg=") {
            let name = line[at.upperBound...].prefix { $0.isLetter || $0.isNumber || "-_.".contains($0) }
            return name.isEmpty ? nil : (PythonNames.normalize(String(name)), line)
        }
        let name = line.prefix { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        guard !name.isEmpty, !line.contains("://") || line.contains(" @ ") else { return nil }
        return (PythonNames.normalize(String(name)), line)
    }
}

/// Turns a resolver's failure output into a message listing the requirement chains that clash.
///
/// Both uv ("Because alpha==1.0 depends on shared==1.0 and beta==1.0 depends on shared==2.0, ...") and pip ("The
/// conflict is caused by: alpha 1.0 depends on shared==1.0") state dependency edges as "X depends on Y". ComfyLock
/// collects those edges, finds the package that is required with different constraints, and walks each constraint
/// back to the requirements file that brought it in:
///
///     requirements conflict on shared:
///       custom_nodes/a/requirements.txt: alpha → shared==1.0
///       custom_nodes/b/requirements.txt: beta==1.0 → shared==2.0
enum ResolverConflict {
    struct Edge: Hashable {
        var parent: String
        var parentSpec: String
        var child: String
        var childSpec: String
    }

    static func explain(
        resolverOutput: String, roots: RequirementRoots, labels: [String: String], resolver: String,
        underlying: (any Error)?
    ) -> PythonError {
        var text = resolverOutput
        for (file, label) in labels { text = text.replacingOccurrences(of: file, with: label) }
        let isConflict =
            text.contains("No solution found") || text.contains("ResolutionImpossible")
            || text.contains("conflicting dependencies") || text.contains("unsatisfiable")
        let excerpt = resolverExcerpt(text)
        let edges = self.edges(in: text)
        let notFound =
            text.contains("not found in the package registry") || text.contains("not found in the provided package")
            || text.contains("No matching distribution found") || text.contains("Could not find a version")
        guard isConflict, !(notFound && edges.isEmpty) else {
            return PythonError.resolutionFailed(
                "\(resolver) could not resolve the requirements:\n\(excerpt)", underlying: nil)
        }
        let mentionedRoots = roots.mentioned(in: text)
        var message = ""
        let byChild = Dictionary(grouping: edges, by: \.child)
        var conflicted: [String] = []
        for (child, incoming) in byChild {
            let specs = Set(incoming.map(\.childSpec)).union(
                roots.byName[child].map { $0.map { spec(of: $0.line) } } ?? [])
            if specs.count > 1 { conflicted.append(child) }
        }
        // Direct clashes ("you require shared>=2 and shared==1.0"): one name with different constraints in
        // different inputs (a node's requirements against the lock's pins), that the resolver names.
        for (name, lines) in roots.byName where byChild[name] == nil {
            let specs = Set(lines.map { spec(of: $0.line) }.filter { !$0.isEmpty })
            guard specs.count > 1, text.contains(name), !VersionSpecifier.compatible(specs) else { continue }
            conflicted.append(name)
        }
        if conflicted.isEmpty, let first = byChild.keys.sorted().first { conflicted = [first] }
        for child in conflicted.sorted() {
            message += "requirements conflict on \(child):\n"
            var chains: [String] = []
            for direct in roots.byName[child] ?? [] { chains.append("  \(direct.label): \(direct.line)") }
            for edge in (byChild[child] ?? []).sorted(by: { ($0.parent, $0.childSpec) < ($1.parent, $1.childSpec) }) {
                let tail = "\(edge.parent)\(edge.parentSpec) → \(child)\(edge.childSpec)"
                let paths = chainsToRoot(edge.parent, edges: edges, roots: roots, seen: [child])
                if paths.isEmpty {
                    // The resolver did not say how the parent was reached: name the roots it said it could not
                    // install together (pip), minus the ones already explained.
                    let direct = Set((byChild[child] ?? []).map(\.parent))
                    let candidates = mentionedRoots.filter { !direct.contains($0) && $0 != child }
                    let labelled = candidates.flatMap { name in
                        (roots.byName[name] ?? []).map { "\($0.label): \($0.line) → … → " }
                    }
                    if labelled.count == 1 {
                        chains.append("  \(labelled[0])\(tail)")
                    } else {
                        chains.append("  \(tail)")
                    }
                } else {
                    for (label, prefix) in paths { chains.append("  \(label): \(prefix)\(tail)") }
                }
            }
            var seen: Set<String> = []
            message += chains.filter { seen.insert($0).inserted }.joined(separator: "\n") + "\n"
        }
        if message.isEmpty { message = "the requirements cannot be satisfied together\n" }
        message += "\(resolver) said:\n\(excerpt)"
        return PythonError.resolutionConflict(message, underlying: nil)
    }

    /// The resolver's own explanation, indented, without pip's generic advice.
    static func resolverExcerpt(_ text: String) -> String {
        var lines: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("Collecting") || line.hasPrefix("Downloading")
                || line.hasPrefix("Looking in")
                || line.hasPrefix("INFO:") || line.hasPrefix("Obtaining") || line.hasPrefix("To fix this")
                || line.hasPrefix("1. ") || line.hasPrefix("2. ") || line.contains("dealing-with-dependency-conflicts")
            {
                continue
            }
            lines.append("  " + line)
        }
        return lines.suffix(20).joined(separator: "\n")
    }

    /// Every "X depends on Y" statement in the resolver's output.
    static func edges(in text: String) -> [Edge] {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        let pattern =
            #"(?:all versions of |all of:? )?([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?((?:[<>=!~]=?|===)[^\s,]*|\s+[0-9][^\s,]*)?\s+depends?\s+on\s+([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?((?:[<>=!~]=?|===)[^\s,]*)?"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        var edges: [Edge] = []
        let range = NSRange(flat.startIndex..., in: flat)
        for match in regex.matches(in: flat, range: range) {
            func group(_ i: Int) -> String {
                guard let r = Range(match.range(at: i), in: flat) else { return "" }
                return String(flat[r])
            }
            var parentSpec = group(2).trimmingCharacters(in: .whitespaces)
            if let first = parentSpec.first, first.isNumber { parentSpec = "==" + parentSpec }
            let parent = PythonNames.normalize(group(1))
            let child = PythonNames.normalize(group(3))
            let childSpec = group(4).trimmingCharacters(in: CharacterSet(charactersIn: ".,;"))
            guard parent != "versions", parent != child else { continue }
            edges.append(Edge(parent: parent, parentSpec: parentSpec, child: child, childSpec: childSpec))
        }
        var seen: Set<Edge> = []
        return edges.filter { seen.insert($0).inserted }
    }

    /// Paths from a root requirement down to `name`: [(input label, "root → ... → ")].
    static func chainsToRoot(
        _ name: String, edges: [Edge], roots: RequirementRoots, seen: Set<String>
    ) -> [(String, String)] {
        if let direct = roots.byName[name] {
            return direct.map { ($0.label, "") }
        }
        var result: [(String, String)] = []
        for edge in edges where edge.child == name && !seen.contains(edge.parent) {
            for (label, prefix) in chainsToRoot(edge.parent, edges: edges, roots: roots, seen: seen.union([name])) {
                result.append((label, prefix + "\(edge.parent)\(edge.parentSpec) → "))
            }
        }
        return result
    }

    /// The version constraint part of a requirement line ("shared==2.0" → "==2.0").
    static func spec(of line: String) -> String {
        let name = line.prefix { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        return String(line.dropFirst(name.count)).trimmingCharacters(in: .whitespaces)
    }
}

/// Just enough of PEP 440 to tell whether an exact pin (`==1.0`) satisfies other specifiers (`>=2`, `<3,!=2.1`,
/// `~=1.4`, `==1.*`), for conflict explanations only (the resolver decides everything else). Anything it cannot
/// read counts as "may clash".
enum VersionSpecifier {
    /// False when some `==V` pin among `specs` fails another specifier; true when all pins satisfy all of them, or
    /// there is no exact pin to test.
    static func compatible(_ specs: Set<String>) -> Bool {
        let clauses = specs.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let pins = clauses.compactMap { clause -> String? in
            guard clause.hasPrefix("=="), !clause.hasPrefix("==="), !clause.hasSuffix("*") else { return nil }
            return String(clause.dropFirst(2))
        }
        guard !pins.isEmpty else { return false }
        for pin in pins {
            for clause in clauses where satisfies(pin, clause) != true { return false }
        }
        return true
    }

    /// Whether `version` satisfies one clause (`nil` when the clause is not understood).
    static func satisfies(_ version: String, _ clause: String) -> Bool? {
        for op in ["===", "~=", "==", "!=", ">=", "<=", ">", "<"] where clause.hasPrefix(op) {
            let target = clause.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
            if target.hasSuffix(".*") {
                let prefix = parts(String(target.dropLast(2)))
                guard let v = parts(version), let prefix else { return nil }
                let matches = Array(v.prefix(prefix.count)) == prefix
                return op == "==" ? matches : op == "!=" ? !matches : nil
            }
            guard let a = parts(version), let b = parts(target) else { return nil }
            let order = compare(a, b)
            switch op {
            case "==", "===": return order == 0
            case "!=": return order != 0
            case ">=": return order >= 0
            case "<=": return order <= 0
            case ">": return order > 0
            case "<": return order < 0
            case "~=":
                guard b.count >= 2 else { return nil }
                return order >= 0 && Array(a.prefix(b.count - 1)) == Array(b.prefix(b.count - 1))
            default: return nil
            }
        }
        return nil
    }

    /// Release segments of a plain version (`1.2.3`); nil for pre/post/dev/local versions.
    static func parts(_ version: String) -> [Int]? {
        let numbers = version.split(separator: ".").map { Int($0) }
        guard !numbers.isEmpty, !numbers.contains(nil) else { return nil }
        return numbers.map { $0! }
    }

    static func compare(_ a: [Int], _ b: [Int]) -> Int {
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
