/// Namespace and module documentation for ComfyTransport. See docs/tech.md for what this module owns.
public enum ComfyTransportModule {
    /// The module's name, for diagnostics.
    public static let name = "ComfyTransport"
}
