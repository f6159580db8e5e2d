internal import ComfyCrypto
internal import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

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
