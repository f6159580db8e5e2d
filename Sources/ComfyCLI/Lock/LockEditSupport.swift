import ArgumentParser
import ComfyLock
import ComfyRuntime
import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Options of every command that edits a lock (`lock update`, `node …`, `workflow scan --write`).
struct LockEditOptions: ParsableArguments {
    @Flag(name: .long, help: "Write the edited lock without asking (otherwise only a terminal confirmation writes it).")
    var yes = false

    @Option(name: [.short, .customLong("output")], help: "Write the edited lock here instead of over the input lock.")
    var output: String?

    @Flag(
        name: .customLong("no-pin"),
        help: "Leave the python section as it is instead of re-pinning it (it may then not match the nodes).")
    var noPin = false

    @Option(
        name: .customLong("package"),
        help: "Let this package move when re-pinning (NAME, or NAME==VERSION to require that version; repeatable).")
    var packages: [String] = []

    func validate() throws {
        for package in packages {
            let name = package.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
                !package.contains(where: \.isNewline)
            else { throw ValidationError("--package takes NAME or NAME==VERSION, not \(Escaping.quoted(package))") }
            if package.contains("="), !package.contains("==") {
                throw ValidationError("--package takes NAME or NAME==VERSION, not \(Escaping.quoted(package))")
            }
        }
    }

    /// The normalized names of `--package`.
    var upgradeNames: Set<String> {
        Set(packages.map { PythonPackage.normalize(String($0.split(separator: "=").first ?? "")) })
    }

    /// `--package NAME==VERSION` as a requirements input.
    var pinnedPackages: [RequirementsInput] {
        let exact = packages.filter { $0.contains("==") }
        return exact.isEmpty ? [] : [.text(exact.joined(separator: "\n") + "\n", label: "--package")]
    }
}

/// What an edit command reports (`--json`), in `lock diff`'s terms.
struct LockEditReport: Encodable {
    /// The lock that was edited.
    var lock: String
    /// Where the result goes.
    var output: String
    /// True when the file was written.
    var written: Bool
    /// True when the edit changes nothing.
    var equal: Bool
    /// Digest before.
    var oldDigest: String
    /// Digest after.
    var newDigest: String
    /// The changes, as `lock diff --json` lists them.
    var entries: [LockDiff.Entry]
    /// What else the operator should know (skipped nodes, an unpinned lock, …).
    var notes: [String]
}

/// The shared end of every lock edit: validate, diff, show, confirm, write atomically.
enum LockEditCLI {
    /// Validates `edited` by the lock rules, prints the diff from `original` (the `lock diff` format, or JSON),
    /// and writes `edited` canonically and atomically to `--output` (default `path`) when `--yes` is given or the
    /// operator confirms on a terminal. Nothing is written when the edited lock is invalid (exit 2), unchanged, or
    /// not confirmed (exit 0, "not written").
    static func finish(
        original: Lock, edited: Lock, path: String, options: LockEditOptions, json: Bool, notes: [String]
    ) throws -> LockEditReport {
        let errors = LockValidator.errors(edited, level: .safe)
        guard errors.isEmpty else {
            throw CLI.fail(
                "the edited lock would not be valid, nothing was written:\n"
                    + errors.map { "  \($0)" }.joined(separator: "\n"))
        }
        let destination = options.output ?? path
        let diff = LockDiffer.diff(original, edited)
        var report = LockEditReport(
            lock: path, output: destination, written: false, equal: diff.isEmpty,
            oldDigest: LockFile.digest(original), newDigest: LockFile.digest(edited), entries: diff.entries,
            notes: notes)
        if !json {
            for note in notes { Console.current.err("note: \(note)") }
            if diff.isEmpty {
                Console.current.out("no changes to \(Escaping.escaped(path)) (digest \(report.oldDigest))")
            } else {
                Console.current.out("--- \(Escaping.escaped(path))\n+++ \(Escaping.escaped(destination)) (edited)")
                for entry in diff.entries { Console.current.out(entry.description) }
                Console.current.out("\(diff.entries.count) difference\(diff.entries.count == 1 ? "" : "s")")
            }
        }
        // An unchanged lock is written only to a new --output (a copy in canonical form).
        let needsWrite = !diff.isEmpty || (options.output != nil && options.output != path)
        guard needsWrite else { return report }
        guard options.yes || confirm("write \(diff.entries.count) change(s) to \(Escaping.escaped(destination))?")
        else {
            if !json { Console.current.err("not written: re-run with --yes to write \(Escaping.escaped(destination))") }
            return report
        }
        do {
            _ = try LockFile.write(edited, to: URL(fileURLWithPath: destination))
        } catch {
            throw CLI.fail("cannot write \(Escaping.quoted(destination)): \(error)")
        }
        report.written = true
        if !json { Console.current.out("wrote \(Escaping.escaped(destination)) (digest \(report.newDigest))") }
        return report
    }

    /// Asks on the terminal: only when standard input and standard error are terminals and the real console is in
    /// use (never in tests or pipelines, which pass `--yes`).
    static func confirm(_ question: String) -> Bool {
        guard Console.current === Console.system, isatty(STDIN_FILENO) == 1, isatty(STDERR_FILENO) == 1 else {
            return false
        }
        Console.current.writeError(question + " [y/N] ")
        guard let answer = readLine(strippingNewline: true) else { return false }
        return ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// Re-pins `edited`'s Python closure after an edit, keeping `original`'s pins except `--package` names (all of
    /// them with `keepPins: false`). A lock without a python section is left so, with a note. A clash of the new
    /// requirements with the pinned closure exits 1 with the explanation.
    static func repin(
        _ edited: inout Lock, original: Lock, options: LockEditOptions, tools: PythonToolOptions, keepPins: Bool = true,
        notes: inout [String]
    ) async throws {
        guard let python = original.python else {
            notes.append("the lock pins no Python packages; run `comfy-cli pin --lock` to pin them")
            return
        }
        if options.noPin {
            notes.append("--no-pin: the python section was not re-pinned and may not match the edited nodes")
            return
        }
        let toolchain = try await tools.toolchain()
        let target = LockPinning.Target(
            lock: original, pythonVersion: nil, platform: nil, indexURL: nil, extraIndexURLs: [],
            interpreterVersion: toolchain.interpreter.majorMinor)
        do {
            let result = try await LockPinning.pin(
                edited, target: target, extra: options.pinnedPackages, keep: keepPins ? python : nil,
                upgrade: options.upgradeNames, gitCache: try RuntimeCLI.gitCache(store: RuntimeCLI.store()),
                toolchain: toolchain, mirrors: try RuntimeCLI.rewriter())
            edited.python = result.pins
            notes += result.skipped.map { "not pinned: \($0)" }
        } catch let error as LockEditError where error.isClosureConflict {
            throw CLI.fail(error.message + "\nnothing was written", code: ExitStatus.checkFailed)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw CLI.fail("re-pinning Python failed, nothing was written: \(error)")
        }
    }

    /// Prints the JSON report when asked.
    static func printJSON(_ report: LockEditReport, json: Bool) throws {
        if json { try Console.current.json(report) }
    }
}
