/// Namespace and module documentation for ComfyRuntime. See docs/tech.md for what this module owns.
public enum ComfyRuntimeModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyRuntime"
}
