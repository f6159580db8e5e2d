import ComfyRuntime

/// The Python step the runtime commands use (ComfyRuntime's Python layer).
enum RuntimePython {
    /// The provider.
    static var provider: (any PythonEnvironmentProvider)? { RuntimePythonEnvironment() }
}
