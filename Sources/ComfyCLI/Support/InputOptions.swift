import ArgumentParser
import ComfyLock

/// The `--max-input-size` option of commands that read a lock, snapshot or workflow whole.
struct InputOptions: ParsableArguments {
    @Option(
        name: .customLong("max-input-size"),
        help: "Largest lock, snapshot or workflow file to read, in bytes (default 67108864 = 64 MiB).")
    var maxInputSize: Int = InputLimits.defaultMaxBytes

    /// The limits for `BoundedInput` / `LockFile.load`.
    var limits: InputLimits { InputLimits(maxBytes: maxInputSize) }

    func validate() throws {
        if maxInputSize < 1 { throw ValidationError("--max-input-size must be at least 1 byte.") }
    }
}
