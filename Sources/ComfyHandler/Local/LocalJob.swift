public import ComfyLock
import Foundation
public import Logging

/// `--test-input`: one job's document, as the RunPod SDK reads it (`{"input": {...}}`, JSON text or a file).
public enum LocalJob {
    /// A `--test-input` problem (exit 1 with a structured error).
    public struct InputError: Error, CustomStringConvertible, Sendable {
        /// What is wrong.
        public let description: String
    }

    /// The largest test-input file read.
    public static let maxBytes = 64 << 20

    /// The `input` member of `argument` — JSON text when it starts with `{`, else a file path.
    public static func readTestInput(_ argument: String) throws -> JSONValue? {
        let trimmed = argument.trimmingCharacters(in: .whitespacesAndNewlines)
        let bytes: [UInt8]
        if trimmed.hasPrefix("{") {
            bytes = Array(trimmed.utf8)
        } else {
            guard let handle = FileHandle(forReadingAtPath: argument) else {
                throw InputError(description: "cannot read the test input file \(argument)")
            }
            defer { try? handle.close() }
            let data = (try? handle.read(upToCount: maxBytes + 1)) ?? nil
            guard let data else { throw InputError(description: "cannot read the test input file \(argument)") }
            guard data.count <= maxBytes else {
                throw InputError(description: "the test input file is larger than \(maxBytes) bytes")
            }
            bytes = Array(data)
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw InputError(description: "the test input is not JSON: \(error)")
        }
        guard let object = document.objectValue else {
            throw InputError(description: "the test input must be an object {\"input\": {...}}")
        }
        guard let input = object["input"] else {
            throw InputError(description: "the test input has no \"input\" member (expected {\"input\": {...}})")
        }
        return input
    }

    /// Prints one JSON document and a newline on standard output (the only thing this mode writes there).
    public static func printDocument(_ value: JSONValue) {
        var bytes = CanonicalJSON.encode(value)
        bytes.append(0x0A)
        FileHandle.standardOutput.write(Data(bytes))
    }
}

/// Logging set-up of the executable: JSON lines on stdout for RunPod (`RUNPOD_ENDPOINT_ID` set), plain lines on
/// stderr otherwise (so `--test-input` keeps stdout for its one document). Known secrets are masked.
public enum HandlerLogging {
    /// Bootstraps swift-log once and returns the handler's logger.
    public static func bootstrap(environment: [String: String], runPod: Bool) -> Logger {
        let levelName = (environment["RUNPOD_LOG_LEVEL"] ?? environment["COMFYLOCK_LOG_LEVEL"] ?? "info").lowercased()
        let level = Logger.Level(rawValue: levelName == "warn" ? "warning" : levelName) ?? .info
        let secrets =
            [
                "RUNPOD_AI_API_KEY", "HF_TOKEN", "CIVITAI_API_TOKEN", "GCS_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN",
            ].compactMap { environment[$0] }.filter { $0.count >= 4 }
            + environment.filter { $0.key.hasPrefix("COMFYLOCK_AUTH_") }.map(\.value)
        let json = runPod && environment["RUNPOD_ENDPOINT_ID"].map { !$0.isEmpty } == true
        LoggingSystem.bootstrap { label in
            if json { return RunPodLogHandler(label: label, level: level, secrets: secrets) }
            return RunPodLogHandler(label: label, level: level, secrets: secrets, plain: true)
        }
        return Logger(label: "comfylock.handler")
    }
}
