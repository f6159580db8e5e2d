/// Namespace and module documentation for ComfyGCS. See docs/tech.md for what this module owns.
public enum ComfyGCSModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyGCS"
}
