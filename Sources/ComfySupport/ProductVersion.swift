/// The one version of the ComfyLock product: `comfy-cli --version`, `created_by` in locks and version metadata, the
/// worker's `handler_version` in every result, and the HTTP `User-Agent`.
public enum ComfyLockVersion {
    /// Semantic version of this build.
    public static let current = "0.2.0"
    /// `comfylock <version>`, as recorded in `created_by`.
    public static var createdBy: String { "comfylock \(current)" }
}
