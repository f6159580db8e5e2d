import ArgumentParser
import ComfyLock

/// The one `--max-input-size` option, shared by every command that reads a user-named file whole (through
/// `BoundedInput`).
struct InputOptions: ParsableArguments {
    @Option(
        name: .customLong("max-input-size"),
        help:
            "Largest input file (lock, snapshot, workflow, requirements, manifest) to read, in bytes (default 64 MiB).")
    var maxInputSize: Int = InputLimits.defaultMaxBytes

    /// The limits for `BoundedInput` / `LockFile.load`.
    var limits: InputLimits { InputLimits(maxBytes: maxInputSize) }

    func validate() throws {
        if maxInputSize < 1 { throw ValidationError("--max-input-size must be at least 1 byte.") }
    }
}
