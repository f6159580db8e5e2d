public import ComfyTransport
public import Foundation
public import Logging

/// Which ComfyUI a front end drives: one it starts from a version directory, or one already running at a URL.
/// `comfy-cli run` and `comfy-cli repro` share this; `start` gives the supervisor either way.
public enum ComfyUITarget: Sendable, Hashable {
    /// Start ComfyUI from the version directory `directory` (its `ComfyUI/main.py` and `venv/`), passing
    /// `arguments` to ComfyUI; its log goes to `<directory>/comfyui.log`.
    case version(directory: String, arguments: [String])
    /// Attach to the ComfyUI running at this http(s) URL.
    case running(URL)

    /// `text` as a ComfyUI URL: http or https with a host, else `nil`.
    public static func url(_ text: String) -> URL? {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            return nil
        }
        return url
    }

    /// The version directory, for `.version`.
    public var versionDirectory: String? {
        if case .version(let directory, _) = self { return directory }
        return nil
    }

    /// The launch configuration of a `.version` target (`nil` for `.running`).
    public var launchConfiguration: ComfyUISupervisor.LaunchConfiguration? {
        guard case .version(let directory, let arguments) = self else { return nil }
        var configuration = ComfyUISupervisor.LaunchConfiguration.version(directory: directory)
        configuration.extraArguments = arguments
        configuration.logFile = directory + "/comfyui.log"
        return configuration
    }

    /// Launches (for `.version`) or attaches to (for `.running`) ComfyUI and returns once it is ready. A version
    /// directory without `ComfyUI/main.py` is refused before anything starts (`.unavailable`, naming the
    /// directory); every other failure is the supervisor's (`launch`/`attach`).
    public func start(
        httpClient: HTTPClient = .shared, logger: Logger = Logger(label: "comfylock.comfyui.supervisor")
    ) async throws(ComfyUIError) -> ComfyUISupervisor {
        switch self {
        case .running(let url):
            return try await ComfyUISupervisor.attach(url: url, httpClient: httpClient, logger: logger)
        case .version(let directory, _):
            guard FileManager.default.fileExists(atPath: directory + "/ComfyUI/main.py") else {
                throw .unavailable(
                    "no ComfyUI/main.py in \(Escaping.escape(directory, limit: 2000)) (see comfy-cli version list)")
            }
            return try await ComfyUISupervisor.launch(launchConfiguration!, httpClient: httpClient, logger: logger)
        }
    }
}

extension ComfyUIError {
    /// True when the workflow itself failed (refused by validation, a node failed, interrupted, past its deadline),
    /// false when ComfyUI or the environment did (crash, connection, unavailable, unusable files). Front ends map
    /// the first to "check failed" (exit 1) and the second to an error (exit 2).
    public var isWorkflowFailure: Bool {
        [.validation, .execution, .interrupted, .timeout].contains(kind)
    }
}
