import ComfyLock
import ComfySupport
import Foundation
public import Logging
import Synchronization

/// JSON-lines logs as RunPod's log viewer expects them when `RUNPOD_ENDPOINT_ID` is set:
/// `{"requestId": <job id or null>, "message": …, "level": "INFO"}` per line, every message redacted.
public struct RunPodLogHandler: LogHandler {
    /// Metadata of this handler.
    public var metadata: Logger.Metadata = [:]
    /// The minimum level.
    public var logLevel: Logger.Level
    let label: String
    let write: @Sendable (String) -> Void
    let secrets: [String]
    let plain: Bool

    /// A handler writing lines through `write` (stdout by default); `secrets` are masked in every line.
    public init(
        label: String, level: Logger.Level = .info, secrets: [String] = [],
        write: @escaping @Sendable (String) -> Void = RunPodLogHandler.standardOutput
    ) {
        self.label = label
        self.logLevel = level
        self.secrets = secrets
        self.write = write
        self.plain = false
    }

    /// A plain-text handler on standard error (`LEVEL [job] message`), with the same redaction.
    public init(label: String, level: Logger.Level, secrets: [String], plain: Bool) {
        self.label = label
        self.logLevel = level
        self.secrets = secrets
        self.plain = plain
        self.write = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Writes one line to standard output.
    public static let standardOutput: @Sendable (String) -> Void = { line in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        emit(level: event.level, message: event.message, metadata: event.metadata)
    }

    func emit(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?) {
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        var text = message.description
        let extra = merged.filter { $0.key != "job_id" }.sorted { $0.key < $1.key }
        if !extra.isEmpty { text += " " + extra.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        let requestID: JSONValue = merged["job_id"].map { .string("\($0)") } ?? .null
        if plain {
            let job = requestID.stringValue.map { " [\($0)]" } ?? ""
            write("\(Self.levelName(level))\(job) \(Redaction.redact(text, secrets: secrets))")
            return
        }
        let object: JSONValue = [
            "requestId": requestID, "message": .string(Redaction.redact(text, secrets: secrets)),
            "level": .string(Self.levelName(level)),
        ]
        write(String(decoding: CanonicalJSON.encode(object), as: UTF8.self))
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "DEBUG"
        case .info, .notice: "INFO"
        case .warning: "WARN"
        case .error: "ERROR"
        case .critical: "FATAL"
        }
    }
}
