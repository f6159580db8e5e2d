/// Namespace and module documentation for ComfyLock. See docs/tech.md for what this module owns.
public enum ComfyLockModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyLock"
}
