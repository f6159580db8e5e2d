import ComfyRuntime

/// The Python step the runtime commands use (ComfyRuntime's Python layer).
enum RuntimePython {
    /// The provider.
    /// Package mirror rules (`COMFYLOCK_PACKAGE_MIRROR`, the mirrors file) apply to its index URLs; a malformed mirror
    /// setting is reported by the git cache, which reads the same rules first.
    static var provider: (any PythonEnvironmentProvider)? {
        RuntimePythonEnvironment.fromEnvironment(mirrors: (try? URLRewriter.fromEnvironment()) ?? URLRewriter())
    }
}
