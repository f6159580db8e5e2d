public import ArgumentParser
import ComfySupport

/// The `comfy-cli` root command: every operator command of ComfyLock lives below it.
public struct ComfyCommand: AsyncParsableCommand {
    /// The command tree.
    public static let configuration = CommandConfiguration(
        commandName: "comfy-cli",
        abstract: "Make ComfyUI deployments reproducible: lock, fetch, build, run and check them.",
        version: ComfyLockVersion.current,
        subcommands: [
            LockCommand.self,
            NodeCommand.self,
            WorkflowCommand.self,
            ModelsCommand.self,
            InitCommand.self,
            PinCommand.self,
            VersionCommand.self,
            StoreCommand.self,
            GCSCommand.self,
            RunCommand.self,
            ReproCommand.self,
            KeyCommand.self,
            BundleCommand.self,
        ]
    )

    /// Creates the root command (argument parser requirement).
    public init() {}
}

/// Entry points used by the executables and by in-process tests.
public enum CLI {
    /// Parses `arguments` (without the program name), runs the command, and returns the process exit code.
    /// Errors are printed to `Console.current` the way the argument parser prints them.
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            var command = try ComfyCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch {
            let code = exitStatus(for: error)
            let message = ComfyCommand.fullMessage(for: error)
            if !message.isEmpty {
                if code == .success {
                    Console.current.out(message)
                } else {
                    Console.current.err(message)
                }
            }
            return code.rawValue
        }
    }

    /// The project's exit-code contract: 0 success, 1 "check failed / different" (commands say so explicitly with
    /// `ExitCode(1)`), 2 usage errors and every other error. The argument parser's own 64 (EX_USAGE) for a bad
    /// command line, and its 1 for an error no command turned into an exit code, both become 2.
    static func exitStatus(for error: any Error) -> ExitCode {
        if let explicit = error as? ExitCode { return explicit }
        let code = ComfyCommand.exitCode(for: error)
        if code == .success { return code }
        return ExitCode(ExitStatus.error)
    }
}
