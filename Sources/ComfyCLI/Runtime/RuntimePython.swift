import ComfyRuntime

/// The Python step the runtime commands use (ComfyRuntime's Python layer).
enum RuntimePython {
    /// The provider, or nil while none is wired.
    static var provider: (any PythonEnvironmentProvider)? { nil }
}
