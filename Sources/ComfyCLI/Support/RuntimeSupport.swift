import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Shared plumbing of the runtime commands (init, lock create, version, store).
enum RuntimeCLI {
    /// Runs `body`, turning any error into a message and exit code 2.
    static func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch let error as CleanExit {
            throw error
        } catch {
            throw CLI.fail(String(describing: error))
        }
    }

    /// The model store (`$COMFYLOCK_STORE` or `~/.cache/comfylock`).
    static func store() -> ModelStore { ModelStore.fromEnvironment() }

    /// URL rewriting from the environment.
    static func rewriter() throws -> URLRewriter { try URLRewriter.fromEnvironment() }

    /// The git object cache in the store.
    static func gitCache(store: ModelStore) throws -> GitCache {
        GitCache(storeRoot: store.root, rewriter: try rewriter())
    }

    /// The Python step used by versions and lock create.
    static func python() -> (any PythonEnvironmentProvider)? { RuntimePython.provider }

    /// How often a long step (installing requirements) prints a "still running" line: every 10 s when standard
    /// output is not a terminal (logs, CI), every 5 s on a terminal.
    static var heartbeat: Duration { isatty(1) == 1 ? .seconds(5) : .seconds(10) }

    /// A progress printer: lines on standard error (plain lines; the steps are few and coarse).
    static func progress(json: Bool) -> (@Sendable (String) -> Void)? {
        let console = Console.current
        return { line in console.err(line) }
    }
}

/// Shared `--root` option of the version commands.
struct VersionsRootOptions: ParsableArguments {
    @Option(name: .long, help: "Directory holding the versions (default $COMFYLOCK_VERSIONS or ~/comfy-versions).")
    var root: String?

    var url: URL { VersionsRoot.resolve(root, environment: ProcessInfo.processInfo.environment) }
}
