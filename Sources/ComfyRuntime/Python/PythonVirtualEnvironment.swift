internal import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A Python virtual environment on disk.
public struct PythonVirtualEnvironment: Sendable, Hashable {
    /// The venv's root directory (holding `pyvenv.cfg`).
    public let root: String

    /// Refers to an existing venv at `root`; throws when it is not one.
    public init(existingAt root: String) throws {
        let normalized = URL(fileURLWithPath: root).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: normalized + "/pyvenv.cfg"),
            FileManager.default.fileExists(atPath: normalized + "/bin/python")
        else { throw PythonError.notAVirtualEnvironment(normalized) }
        self.root = normalized
    }

    private init(unchecked root: String) { self.root = root }

    /// The venv's interpreter.
    public var python: String { root + "/bin/python" }

    /// The venv's `site-packages` directories (`lib/pythonX.Y/site-packages`, plus `lib64` when it is distinct).
    public func sitePackages() -> [String] {
        var result: [String] = []
        var seen: Set<String> = []
        for lib in ["lib", "lib64"] {
            let dir = root + "/" + lib
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for entry in entries.sorted() where entry.hasPrefix("python") {
                let candidate = dir + "/" + entry + "/site-packages"
                let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
                if FileManager.default.fileExists(atPath: candidate), seen.insert(resolved).inserted {
                    result.append(candidate)
                }
            }
        }
        return result
    }

    /// Creates a venv at `root` with the toolchain's interpreter: `uv venv --relocatable` when uv is available,
    /// else `python -m venv`. An existing venv at `root` is replaced only when `replace` is true.
    ///
    /// With uv the venv is relocatable (console scripts find their interpreter relative to themselves), so a venv
    /// built in a staging directory keeps working after it is renamed into place. With pip, call `relocate(from:)`
    /// after moving it.
    public static func create(
        at root: String, toolchain: PythonToolchain, replace: Bool = false
    ) async throws -> PythonVirtualEnvironment {
        let path = URL(fileURLWithPath: root).standardizedFileURL.path
        if FileManager.default.fileExists(atPath: path) {
            guard replace else {
                if let existing = try? PythonVirtualEnvironment(existingAt: path) { return existing }
                throw PythonError.venvCreationFailed(
                    path, underlying: PythonError.io("the path exists and is not a venv"))
            }
        }
        let command: ProcessCommand
        if toolchain.uv != nil {
            var arguments = ["venv", "--no-config", "--quiet", "--relocatable", "--python", toolchain.interpreter.path]
            if replace { arguments.append("--clear") }
            arguments.append(path)
            command = toolchain.uvCommand(arguments, timeout: .seconds(300))
        } else {
            var arguments = ["-I", "-m", "venv"]
            if replace { arguments.append("--clear") }
            arguments.append(path)
            command = ProcessCommand(
                toolchain.interpreter.path, arguments, environment: HermeticPython.setVariables(),
                removedEnvironment: HermeticPython.removedVariables(), timeout: .seconds(600))
        }
        do {
            try await ProcessRunner.run(command)
        } catch {
            throw PythonError.venvCreationFailed(path, underlying: error)
        }
        let venv = PythonVirtualEnvironment(unchecked: path)
        guard FileManager.default.fileExists(atPath: venv.python) else {
            throw PythonError.venvCreationFailed(path, underlying: PythonError.io("no bin/python after creation"))
        }
        return venv
    }

    /// Rewrites console scripts in `bin/` whose shebang names this venv's interpreter by absolute path into the
    /// relocatable form uv uses (`#!/bin/sh` + a line that execs the `python` next to the script, which Python reads
    /// as a string literal), so the venv can be renamed into place after it was built in a staging directory.
    /// Returns the files changed. uv venvs made with `--relocatable` need nothing.
    @discardableResult
    public func makeScriptsRelocatable() throws -> [String] {
        var changed: [String] = []
        let bin = root + "/bin"
        let prefix = "#!" + bin + "/"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: bin)) ?? []).sorted() {
            let file = bin + "/" + name
            let attributes = try? FileManager.default.attributesOfItem(atPath: file)
            guard attributes?[.type] as? FileAttributeType == .typeRegular,
                let data = try? BoundedInput.read(file, limits: InputLimits(maxBytes: 1 << 20)), !data.contains(0),
                let text = String(validating: data, as: UTF8.self), text.hasPrefix(prefix)
            else { continue }
            let firstLineEnd = text.firstIndex(of: "\n") ?? text.endIndex
            let interpreter = String(text[text.index(text.startIndex, offsetBy: prefix.count)..<firstLineEnd])
            // Only plain interpreter names (python, python3, python3.11): no arguments, no quotes.
            guard interpreter.hasPrefix("python"), interpreter.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." })
            else { continue }
            let trampoline = #"""
                #!/bin/sh
                '''exec' "$(dirname -- "$(realpath -- "$0")")"/'\#(interpreter)' "$0" "$@"
                ' '''
                """#
            let updated = trampoline + text[firstLineEnd...]
            try AtomicFile.write(
                Array(updated.utf8), to: file, permissions: attributes?[.posixPermissions] as? Int ?? 0o644)
            changed.append(file)
        }
        return changed
    }

    /// After the venv was moved from `oldRoot` to `root`: rewrites the old absolute path in the text files of
    /// `bin/` (console-script shebangs, activate scripts) and in `pyvenv.cfg`. Binary files and symlinks are left
    /// alone. Returns the files changed.
    @discardableResult
    public func relocate(from oldRoot: String) throws -> [String] {
        let old = URL(fileURLWithPath: oldRoot).standardizedFileURL.path
        guard old != root else { return [] }
        var changed: [String] = []
        let bin = root + "/bin"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: bin)) ?? []
        for name in entries.sorted() {
            let file = bin + "/" + name
            let attributes = try? FileManager.default.attributesOfItem(atPath: file)
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            guard let data = try? BoundedInput.read(file, limits: InputLimits(maxBytes: 1 << 20)),
                !data.contains(0), let text = String(validating: data, as: UTF8.self), text.contains(old)
            else { continue }
            let updated = text.replacingOccurrences(of: old + "/", with: root + "/")
                .replacingOccurrences(of: old + "\n", with: root + "\n")
                .replacingOccurrences(of: "'" + old + "'", with: "'" + root + "'")
                .replacingOccurrences(of: "\"" + old + "\"", with: "\"" + root + "\"")
            guard updated != text else { continue }
            try AtomicFile.write(
                Array(updated.utf8), to: file, permissions: attributes?[.posixPermissions] as? Int ?? 0o644)
            changed.append(file)
        }
        return changed
    }
}
