internal import ComfyProcess
public import Foundation

/// A Python interpreter found on this machine.
public struct PythonInterpreter: Sendable, Hashable, Codable {
    /// Absolute path of the executable.
    public var path: String
    /// Full version, e.g. "3.11.2".
    public var version: String

    /// Creates a description of an interpreter (no check is made).
    public init(path: String, version: String) {
        self.path = path
        self.version = version
    }

    /// "3.11" for "3.11.2".
    public var majorMinor: String { version.split(separator: ".").prefix(2).joined(separator: ".") }

    /// Finds an interpreter.
    ///
    /// `request` may be a path (`/usr/bin/python3.11`), a program name looked up in `PATH` (`python3`), or a version
    /// (`3.11` → `python3.11`, then `python3` if its version matches). `nil` means `python3`, then `python`.
    public static func find(
        _ request: String? = nil, environment: [String: String]
    ) async throws -> PythonInterpreter {
        var candidates: [String] = []
        var wantedVersion: String?
        if let request, request.contains("/") {
            candidates = [request]
        } else if let request, request.first?.isNumber == true {
            wantedVersion = request
            candidates = ["python\(request)", "python3", "python"]
        } else if let request {
            candidates = [request]
        } else {
            candidates = ["python3", "python"]
        }
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for candidate in candidates {
            guard let executable = ExecutableLookup.find(candidate, path: path) else { continue }
            let interpreter = try await probe(executable)
            if let wantedVersion, interpreter.version != wantedVersion,
                !interpreter.version.hasPrefix(wantedVersion + ".")
            {
                continue
            }
            return interpreter
        }
        throw PythonError.interpreterNotFound(request ?? "python3", searched: candidates)
    }

    /// Asks the interpreter at `executable` for its version.
    public static func probe(_ executable: String) async throws -> PythonInterpreter {
        let command = ProcessCommand(
            executable, ["-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            removedEnvironment: HermeticPython.removedVariables(), timeout: .seconds(60))
        do {
            let result = try await ProcessRunner.run(command)
            let version = result.trimmedOutput
            guard version.split(separator: ".").count == 3 else {
                throw PythonError.interpreterUnusable(executable, underlying: nil)
            }
            return PythonInterpreter(path: executable, version: version)
        } catch let error as PythonError {
            throw error
        } catch {
            throw PythonError.interpreterUnusable(executable, underlying: error)
        }
    }
}

/// Which installer drives `pip install`-style operations.
public enum PythonInstallerKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// uv (`uv venv`, `uv pip install`, `uv pip compile`): fast, with a shared hard-linked cache.
    case uv
    /// pip from the venv (`python -m venv`, `python -m pip install`).
    case pip
}

/// The tools ComfyRuntime drives for Python work: a base interpreter and, when available, uv.
///
/// Every command runs hermetically: the user's pip and uv configuration files and `PIP_*` / `UV_*` environment
/// variables are ignored (see `HermeticPython`), so the same lock gives the same environment on every machine.
public struct PythonToolchain: Sendable, Hashable {
    /// The interpreter venvs are created from.
    public var interpreter: PythonInterpreter
    /// The uv executable; `nil` means pip is used.
    public var uv: String?
    /// uv's cache directory (`--cache-dir`); `nil` keeps uv's default (`UV_CACHE_DIR` or `~/.cache/uv`).
    public var uvCacheDirectory: String?
    /// How uv puts files from its cache into a venv; `nil` picks `hardlink` on Linux and `clone` on macOS.
    public var uvLinkMode: String?

    /// Creates a toolchain from known parts.
    public init(
        interpreter: PythonInterpreter, uv: String? = nil, uvCacheDirectory: String? = nil, uvLinkMode: String? = nil
    ) {
        self.interpreter = interpreter
        self.uv = uv
        self.uvCacheDirectory = uvCacheDirectory
        self.uvLinkMode = uvLinkMode
    }

    /// The installer this toolchain uses: uv when present, else pip.
    public var installer: PythonInstallerKind { uv == nil ? .pip : .uv }

    /// Finds the tools.
    ///
    /// - `python`: see `PythonInterpreter.find`.
    /// - `uv`: an explicit path; else `COMFYLOCK_UV` from `environment`; else `uv` in `PATH`. An explicit path or
    ///   `COMFYLOCK_UV` that does not exist is an error; `COMFYLOCK_UV=none` (or `installer: .pip`) disables uv.
    /// - The uv cache comes from `COMFYLOCK_UV_CACHE_DIR`, then `UV_CACHE_DIR` (the only `UV_*` variable honoured,
    ///   because it changes where files are cached, never what is installed).
    public static func discover(
        python: String? = nil, uv: String? = nil, installer: PythonInstallerKind? = nil,
        environment: [String: String]
    ) async throws -> PythonToolchain {
        let interpreter = try await PythonInterpreter.find(python, environment: environment)
        var uvPath: String?
        if installer != .pip {
            let explicit = uv ?? environment["COMFYLOCK_UV"].flatMap { $0.isEmpty ? nil : $0 }
            if let explicit, explicit != "none" {
                let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
                guard let found = ExecutableLookup.find(explicit, path: path) else {
                    throw PythonError.uvNotFound(explicit)
                }
                uvPath = found
            } else if explicit == nil {
                let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
                uvPath = ExecutableLookup.find("uv", path: path)
            }
            if installer == .uv, uvPath == nil { throw PythonError.uvNotFound(explicit ?? "uv (PATH)") }
        }
        let cache = environment["COMFYLOCK_UV_CACHE_DIR"] ?? environment["UV_CACHE_DIR"]
        return PythonToolchain(interpreter: interpreter, uv: uvPath, uvCacheDirectory: cache)
    }

    /// The link mode passed to `uv pip install`.
    var effectiveLinkMode: String {
        if let uvLinkMode { return uvLinkMode }
        #if os(macOS)
            return "clone"
        #else
            return "hardlink"
        #endif
    }

    /// A hermetic command for `uv` with `arguments` (cache dir added when configured).
    func uvCommand(_ arguments: [String], workingDirectory: String? = nil, timeout: Duration? = nil) -> ProcessCommand {
        var environment = HermeticPython.setVariables()
        if let uvCacheDirectory { environment["UV_CACHE_DIR"] = uvCacheDirectory }
        return ProcessCommand(
            uv ?? "uv", arguments, environment: environment, removedEnvironment: HermeticPython.removedVariables(),
            workingDirectory: workingDirectory, timeout: timeout)
    }
}

/// The environment every pip/uv/python child gets: user configuration and `PIP_*` / `UV_*` variables removed,
/// config files pointed at `/dev/null`, no prompts, no interpreter downloads.
public enum HermeticPython {
    /// Variables set in every Python tool child.
    public static func setVariables() -> [String: String] {
        [
            "PIP_CONFIG_FILE": "/dev/null",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
        ]
    }

    /// Variables removed from the inherited environment: every `PIP_*`, `UV_*`, and the ones that redirect Python.
    /// It reads the process environment by default because that is what a child inherits (like the spawner).
    public static func removedVariables(
        from environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Set<String> {
        var removed: Set<String> = [
            "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX",
            "PIP_REQUIRE_VIRTUALENV", "XDG_CONFIG_DIRS",
        ]
        for key in environment.keys where key.hasPrefix("PIP_") || key.hasPrefix("UV_") {
            removed.insert(key)
        }
        return removed
    }
}

/// `PATH` lookup of an executable.
enum ExecutableLookup {
    /// The absolute path of `name` (or `name` itself when it contains `/` and is executable).
    static func find(_ name: String, path: [String]) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? absolute(name) : nil
        }
        for dir in path where !dir.isEmpty {
            let candidate = dir + "/" + name
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return absolute(candidate)
            }
        }
        return nil
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}
