/// Namespace and module documentation for ComfyModels. See docs/tech.md for what this module owns.
public enum ComfyModelsModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyModels"
}
