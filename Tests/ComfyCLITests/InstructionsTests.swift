import ArgumentParser
import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

/// docs/instructions.md against the real command trees of `comfy-cli` (in-process) and `comfy-handler` (the built
/// executable): every command and every flag is documented, and every command line and flag the document shows
/// exists. When this fails after a command changed, run `scripts/gen-instructions.sh` (it regenerates the reference
/// section from the tools' own help) and, for a new command, add a worked example to its group by hand.
@Suite("docs/instructions.md matches the command trees")
struct InstructionsTests {
    static let fixHint =
        "run scripts/gen-instructions.sh to regenerate the command reference of docs/instructions.md, and add a worked example for a new command"

    @Test("the configuration tree and the help dump name the same commands")
    func treeAndDumpAgree() async throws {
        let dump = try await CommandTree.comfyCLI()
        var configured: [String] = []
        func walk(_ command: any ParsableCommand.Type, _ path: [String]) {
            let configuration = command.configuration
            let name = configuration.commandName ?? String(describing: command)
            let here = path + [name]
            configured.append(here.joined(separator: " "))
            for sub in configuration.subcommands { walk(sub, here) }
        }
        walk(ComfyCommand.self, [])
        #expect(configured.sorted() == dump.allPaths.sorted())
        #expect(configured.count > 10)
    }

    @Test("every command and every flag of comfy-cli and comfy-handler appears in docs/instructions.md")
    func everyCommandDocumented() async throws {
        let doc = try InstructionsDocument.load()
        for tree in try await CommandTree.all() {
            for command in tree.allCommands {
                let section = doc.section(for: command.path)
                #expect(section != nil, "docs/instructions.md has no section `\(command.path)`; \(Self.fixHint)")
                guard let section else { continue }
                for flag in command.flags {
                    #expect(
                        section.containsWord(flag),
                        "docs/instructions.md, section `\(command.path)`, does not mention \(flag); \(Self.fixHint)")
                }
            }
        }
    }

    @Test("every comfy-cli / comfy-handler command line in the docs names real commands and flags")
    func everyDocumentedInvocationExists() async throws {
        let trees = try await CommandTree.all()
        for file in ["docs/instructions.md", "readme.md"] {
            let text = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent(file), encoding: .utf8)
            let invocations = InstructionsDocument.invocations(in: text)
            #expect(invocations.count > (file == "readme.md" ? 5 : 30), "\(file): too few command lines found")
            for invocation in invocations {
                guard let tree = trees.first(where: { $0.root.name == invocation.tool }) else { continue }
                let problems = tree.check(invocation.words)
                #expect(problems.isEmpty, "\(file):\(invocation.line): `\(invocation.text)`: \(problems)")
            }
        }
    }

    @Test("every --flag named anywhere in docs/instructions.md exists in some command")
    func everyFlagExists() async throws {
        let trees = try await CommandTree.all()
        var known = Set(trees.flatMap { $0.allCommands.flatMap(\.flags) })
        known.formUnion(CommandTree.globalFlags)
        let text = try InstructionsDocument.load().text
        for flag in InstructionsDocument.flags(in: text) {
            if !known.contains(flag) { Issue.record("docs/instructions.md mentions \(flag), which no command has") }
        }
    }

    @Test("every environment variable the product reads is documented")
    func everyEnvironmentVariableDocumented() throws {
        var names = try EnvironmentReads.scan(TestPaths.repositoryRoot.appendingPathComponent("Sources"))
        names.formUnion(try EnvironmentReads.scanScripts(TestPaths.repositoryRoot.appendingPathComponent("scripts")))
        #expect(names.contains("HF_TOKEN") && names.contains("COMFYLOCK_STORE"), "the source scan found \(names)")
        let text = try InstructionsDocument.load().text
        for name in names.sorted() {
            if !text.contains("`\(name)`") {
                Issue.record("docs/instructions.md does not document the environment variable `\(name)`")
            }
        }
    }

    @Test("the generated command reference is up to date")
    func generatedReferenceIsCurrent() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var dumps: [String] = []
        for tree in try await CommandTree.all() {
            let path = dir.appending("\(tree.root.name).json").path
            try Data(tree.json.utf8).write(to: URL(fileURLWithPath: path))
            dumps.append(path)
        }
        let result = try Subprocess.run(
            "/usr/bin/env",
            [
                "python3", TestPaths.repositoryRoot.appendingPathComponent("scripts/docs/render_reference.py").path,
                TestPaths.repositoryRoot.appendingPathComponent("docs/instructions.md").path,
            ] + dumps + ["--check"])
        #expect(result.status == 0, "\(result.standardError) — \(Self.fixHint)")
    }

    @Test("the invocation checker refuses what does not exist")
    func checkerCanFail() async throws {
        let tree = try await CommandTree.comfyCLI()
        #expect(tree.check(["lock", "diff", "a", "b", "--json"]).isEmpty)
        #expect(!tree.check(["lock", "frobnicate"]).isEmpty)
        #expect(!tree.check(["lock", "diff", "--no-such-flag"]).isEmpty)
        #expect(!tree.check(["no-such-group"]).isEmpty)
        let words = InstructionsDocument.invocations(in: "```sh\nX=1 comfy-cli lock diff \\\n  a b --json # c\n```\n")
        #expect(words.map(\.words) == [["lock", "diff", "a", "b", "--json"]])
    }
}

// MARK: - The command trees, from the tools' own `--experimental-dump-help`

/// One command of a tree: its full path (`comfy-cli lock diff`), its flags and options, its subcommands.
struct CommandNode: Sendable {
    var name: String
    var path: String
    var flags: [String]
    /// Flags that take a value (`--lock L`), so the checker skips the value.
    var valued: Set<String>
    var positionals: Int
    var subcommands: [CommandNode]
    var defaultSubcommand: String?

    init(_ value: JSONValue, parent: String?) {
        let name = value["commandName"]?.stringValue ?? ""
        self.name = name
        path = parent.map { "\($0) \(name)" } ?? name
        var flags: [String] = []
        var valued: Set<String> = []
        var positionals = 0
        for argument in value["arguments"]?.arrayValue ?? [] {
            if argument["kind"]?.stringValue == "positional" {
                positionals += 1
                continue
            }
            for name in argument["names"]?.arrayValue ?? [] {
                guard let text = name["name"]?.stringValue else { continue }
                let spelled = name["kind"]?.stringValue == "long" ? "--" + text : "-" + text
                // ArgumentParser's own flags; an option that happens to be called --version is the command's.
                if CommandTree.globalFlags.contains(spelled), argument["kind"]?.stringValue == "flag" { continue }
                flags.append(spelled)
                if argument["kind"]?.stringValue == "option" { valued.insert(spelled) }
            }
        }
        self.flags = flags
        self.valued = valued
        self.positionals = positionals
        let here = path
        // ArgumentParser's own `help` subcommand is documented once, with -h/--help.
        subcommands = (value["subcommands"]?.arrayValue ?? []).map { CommandNode($0, parent: here) }
            .filter { $0.name != "help" }
        defaultSubcommand = value["defaultSubcommand"]?.stringValue
    }
}

struct CommandTree: Sendable {
    /// Flags every command has (ArgumentParser's own); documented once, not per command.
    static let globalFlags: Set<String> = ["-h", "--help", "--version", "--experimental-dump-help"]

    var root: CommandNode
    var json: String

    var allCommands: [CommandNode] {
        var out: [CommandNode] = []
        func walk(_ node: CommandNode) {
            out.append(node)
            node.subcommands.forEach(walk)
        }
        walk(root)
        return out
    }

    var allPaths: [String] { allCommands.map(\.path) }

    init(json: String) throws {
        let value = try JSONParser.parse(Array(json.utf8))
        root = CommandNode(try #require(value["command"]), parent: nil)
        self.json = json
    }

    /// comfy-cli's tree, in-process.
    static func comfyCLI() async throws -> CommandTree {
        let capture = CapturingConsole()
        let code = await Console.$current.withValue(capture.console) { await CLI.run(["--experimental-dump-help"]) }
        #expect(code == 0)
        return try CommandTree(json: capture.standardOutput)
    }

    /// comfy-handler's tree, from the built executable (it is not a library).
    static func comfyHandler() throws -> CommandTree? {
        let binary = TestPaths.productsDirectory.appendingPathComponent("comfy-handler").path
        let result = try Subprocess.run(binary, ["--experimental-dump-help"])
        guard result.status == 0 else { return nil }  // no command line yet: nothing to document
        return try CommandTree(json: result.standardOutput)
    }

    static func all() async throws -> [CommandTree] {
        [try await comfyCLI()] + [try comfyHandler()].compactMap { $0 }
    }

    /// Problems with one documented command line (`words` after the tool name); empty when it exists.
    func check(_ words: [String]) -> [String] {
        var node = root
        var index = 0
        // Walk the subcommands the words name.
        while index < words.count, let sub = node.subcommands.first(where: { $0.name == words[index] }) {
            node = sub
            index += 1
        }
        if index < words.count, !words[index].hasPrefix("-"), !node.subcommands.isEmpty, node.positionals == 0 {
            if let fallback = node.defaultSubcommand, let sub = node.subcommands.first(where: { $0.name == fallback }) {
                node = sub
            } else {
                return ["`\(node.path)` has no subcommand \(words[index])"]
            }
        } else if index == words.count, let fallback = node.defaultSubcommand,
            let sub = node.subcommands.first(where: { $0.name == fallback })
        {
            node = sub
        }
        var accepted = Set(node.flags).union(Self.globalFlags)
        var valued = node.valued
        if let fallback = node.defaultSubcommand, let sub = node.subcommands.first(where: { $0.name == fallback }) {
            accepted.formUnion(sub.flags)
            valued.formUnion(sub.valued)
        }
        var problems: [String] = []
        while index < words.count {
            let word = words[index]
            index += 1
            guard word.hasPrefix("-"), word.count > 1, word != "--" else { continue }
            let flag = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            if !accepted.contains(flag) { problems.append("`\(node.path)` has no flag \(flag)") }
            if valued.contains(flag), !word.contains("=") { index += 1 }
        }
        return problems
    }
}

// MARK: - The document

struct InstructionsDocument {
    struct Section {
        var lines: [String]
        func containsWord(_ flag: String) -> Bool {
            lines.contains { line in InstructionsDocument.flags(in: line).contains(flag) }
        }
    }

    struct Invocation: Equatable {
        var tool: String
        var words: [String]
        var text: String
        var line: Int
    }

    var text: String
    var lines: [String]

    static func load() throws -> InstructionsDocument {
        let text = try String(
            contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/instructions.md"), encoding: .utf8)
        return InstructionsDocument(text: text, lines: text.components(separatedBy: "\n"))
    }

    /// The lines from the heading `` `path` `` to the next heading of the same or a higher level.
    func section(for path: String) -> Section? {
        guard
            let start = lines.firstIndex(where: { line in
                line.hasPrefix("#")
                    && line.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces) == "`\(path)`"
            })
        else { return nil }
        let level = lines[start].prefix(while: { $0 == "#" }).count
        var end = start + 1
        while end < lines.count {
            let line = lines[end]
            if line.hasPrefix("#"), line.prefix(while: { $0 == "#" }).count <= level { break }
            end += 1
        }
        return Section(lines: Array(lines[start..<end]))
    }

    /// Every `--long` flag and `-x` short flag spelled in `text` (in code spans, code blocks or tables).
    static func flags(in text: String) -> Set<String> {
        var out: Set<String> = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func isName(_ c: Unicode.Scalar) -> Bool { CharacterSet.alphanumerics.contains(c) || c == "-" }
        while i < scalars.count {
            let boundary = i == 0 || " `[(|,\t".unicodeScalars.contains(scalars[i - 1])
            if boundary, scalars[i] == "-", i + 1 < scalars.count {
                var j = i + 1
                let long = scalars[j] == "-"
                if long { j += 1 }
                let start = j
                while j < scalars.count, isName(scalars[j]) { j += 1 }
                if j > start, CharacterSet.lowercaseLetters.contains(scalars[start]),
                    j == scalars.count || !CharacterSet.alphanumerics.contains(scalars[j])
                {
                    let name = String(String.UnicodeScalarView(scalars[start..<j]))
                    if long {
                        out.insert("--" + name)
                    } else if name.count == 1 {
                        out.insert("-" + name)
                    }
                }
                i = j
                continue
            }
            i += 1
        }
        return out
    }

    /// Command lines of `comfy-cli` and `comfy-handler` in fenced code blocks and inline code spans (`\`
    /// continuations joined; `VAR=value` prefixes, `[...]` brackets, `# comments`, pipes and redirections dropped).
    static func invocations(in text: String) -> [Invocation] {
        var out: [Invocation] = []
        var inFence = false
        var pending = ""
        var pendingLine = 0
        let lines = text.components(separatedBy: "\n")
        for (number, raw) in lines.enumerated() {
            if raw.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inFence.toggle()
                continue
            }
            if inFence {
                if pending.isEmpty { pendingLine = number + 1 }
                var line = raw
                let continued = line.hasSuffix("\\")
                if continued { line.removeLast() }
                pending += line + " "
                if continued { continue }
                out += parse(pending, line: pendingLine)
                pending = ""
            } else {
                // Inline code spans.
                let parts = raw.components(separatedBy: "`")
                for index in stride(from: 1, to: parts.count, by: 2) {
                    out += parse(parts[index], line: number + 1)
                }
            }
        }
        return out
    }

    static func parse(_ commandLine: String, line: Int) -> [Invocation] {
        var out: [Invocation] = []
        var text = commandLine
        if let hash = text.range(of: " #") { text = String(text[..<hash.lowerBound]) }
        if text.hasPrefix("#") { return [] }
        for segment in text.components(separatedBy: CharacterSet(charactersIn: "|;&")) {
            let words = segment.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard
                let toolIndex = words.firstIndex(where: { word in
                    ["comfy-cli", "comfy-handler"].contains(word.split(separator: "/").last.map(String.init) ?? word)
                })
            else { continue }
            // Only a command position: the first word, or after VAR=value assignments / $( / sudo.
            let before = words[..<toolIndex]
            guard before.allSatisfy({ $0.contains("=") || $0 == "$(" || $0 == "sudo" || $0 == "exec" }) else {
                continue
            }
            let tool = words[toolIndex].split(separator: "/").last.map(String.init) ?? words[toolIndex]
            var rest: [String] = []
            for word in words[(toolIndex + 1)...] {
                // Redirections end the command line; `<placeholder>`s are values, not words to check.
                if word.hasPrefix(">") || word.hasPrefix("2>") || word == "<" || word == ")" { break }
                let cleaned = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]()\"'"))
                if cleaned.hasPrefix("<") && cleaned.hasSuffix(">") || cleaned == "…" || cleaned == "..." { continue }
                if !cleaned.isEmpty { rest.append(cleaned) }
            }
            out.append(
                Invocation(tool: tool, words: rest, text: segment.trimmingCharacters(in: .whitespaces), line: line))
        }
        return out
    }
}

// MARK: - Environment variables read by the product

/// Names of environment variables read in Sources/: `environment["X"]`, `env["X"]`, `getenv("X")`, the
/// `value("X", "Y")` lookups of `fromEnvironment()` constructors, and `COMFYLOCK_AUTH_<HOST>`.
enum EnvironmentReads {
    /// Read only by tests through the product (fault injection); documented anyway, in the test section.
    static func scan(_ sources: URL) throws -> Set<String> {
        var names: Set<String> = []
        let enumerator = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        let patterns = [
            #"(?:environment|env|environ)\[\s*"([A-Z][A-Z0-9_]+)"\s*\]"#,
            #"getenv\(\s*"([A-Z][A-Z0-9_]+)"\s*\)"#,
            #"value\(((?:\s*"[A-Z][A-Z0-9_]+"\s*,?)+)\)"#,
            #"(?:environmentVariable|variableName|envName)\s*[:=]\s*"([A-Z][A-Z0-9_]+)""#,
        ]
        let regexes = try patterns.map { try NSRegularExpression(pattern: $0) }
        let quoted = try NSRegularExpression(pattern: #""([A-Z][A-Z0-9_]+)""#)
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "swift", let text = try? String(contentsOf: url, encoding: .utf8) else {
                continue
            }
            let range = NSRange(text.startIndex..., in: text)
            for regex in regexes {
                for match in regex.matches(in: text, range: range) {
                    let group = (text as NSString).substring(with: match.range(at: 1))
                    for inner in quoted.matches(in: group, range: NSRange(group.startIndex..., in: group)) {
                        names.insert((group as NSString).substring(with: inner.range(at: 1)))
                    }
                    if !group.contains("\"") { names.insert(group) }
                }
            }
            if text.contains("COMFYLOCK_AUTH_") { names.insert("COMFYLOCK_AUTH_<HOST>") }
        }
        return names
    }

    /// `COMFYLOCK_*` variables the top-level scripts (`scripts/*.sh`: run, test, bootstrap, ...) read.
    static func scanScripts(_ scripts: URL) throws -> Set<String> {
        var names: Set<String> = []
        let regex = try NSRegularExpression(pattern: #"\$\{?(COMFYLOCK_[A-Z0-9_]*[A-Z0-9])"#)
        for url in try FileManager.default.contentsOfDirectory(at: scripts, includingPropertiesForKeys: nil)
        where url.pathExtension == "sh" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert((text as NSString).substring(with: match.range(at: 1)))
            }
        }
        return names
    }
}
