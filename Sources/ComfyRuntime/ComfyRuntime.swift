/// Namespace and module documentation for ComfyRuntime. See docs/tech.md for what this module owns.
public enum ComfyRuntimeModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyRuntime"
    /// The tool version recorded in version metadata.
    public static let toolVersion = "0.1.0"
}
