public import ArgumentParser
import ComfySupport
import Foundation
public import Logging

/// `-v/--verbose`, `--log-level`, `--log-format` — the one logging option group of every long-running command.
///
/// Level: `--log-level` if given, else `debug` with `--verbose`, else `$COMFYLOCK_LOG_LEVEL`, else `warning`.
/// Logs go to standard error, one line per message, every message and metadata value through `Redaction`.
struct LoggingOptions: ParsableArguments {
    @Flag(name: [.customShort("v"), .long], help: "Log debug messages to standard error.")
    var verbose = false

    @Option(
        name: .customLong("log-level"),
        help: "The lowest level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level?

    @Option(name: .customLong("log-format"), help: "How log lines look: text or json (one JSON object a line).")
    var logFormat: LogFormat = .text

    /// The level these options choose, reading `COMFYLOCK_LOG_LEVEL` from `environment`.
    func level(environment: [String: String] = ProcessInfo.processInfo.environment) -> Logger.Level {
        if let logLevel { return logLevel }
        if verbose { return .debug }
        if let text = environment["COMFYLOCK_LOG_LEVEL"]?.lowercased(), let level = Logger.Level(rawValue: text) {
            return level
        }
        return .warning
    }

    /// A logger writing to the current console's standard error (redacted), labelled `label`.
    func logger(label: String = "comfylock", secrets: [String] = []) -> Logger {
        let console = Console.current
        let format = logFormat
        let level = level()
        var logger = Logger(label: label) { label in
            RedactingLogHandler(label: label, format: format, secrets: secrets) { console.writeError($0 + "\n") }
        }
        logger.logLevel = level
        return logger
    }
}

/// The shapes of a log line.
public enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `2026-12-01T10:00:00.000Z warning comfylock: message key=value ...`
    case text
    /// `{"level":"warning","label":"comfylock","message":"…","metadata":{…},"timestamp":"…"}`
    case json
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A swift-log handler that passes every message and metadata value through `ComfySupport.Redaction` (with the
/// given known secrets) and hands one line per message to `write`. Used by the CLI; the worker has its own RunPod
/// shaped handler over the same redaction.
public struct RedactingLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// Text or JSON lines.
    public let format: LogFormat
    /// Known secret values to remove besides the redaction's rules.
    public let secrets: [String]
    private let write: @Sendable (String) -> Void

    /// The level below which messages are dropped.
    public var logLevel: Logger.Level = .info
    /// Metadata attached to every message of this logger.
    public var metadata: Logger.Metadata = [:]

    /// A handler for `label` writing lines (without newline) to `write`.
    public init(
        label: String, format: LogFormat, secrets: [String] = [], write: @escaping @Sendable (String) -> Void
    ) {
        self.label = label
        self.format = format
        self.secrets = secrets
        self.write = write
    }

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats, redacts and writes one message.
    public func log(event: LogEvent) {
        let level = event.level
        var merged = self.metadata
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        let message = Redaction.redact(event.message.description, secrets: secrets)
        var fields: [(String, String)] = []
        for key in merged.keys.sorted() {
            fields.append((key, Redaction.redact(Self.text(merged[key]!), secrets: secrets)))
        }
        let timestamp = Self.timestamp()
        switch format {
        case .text:
            let tail = fields.map { " \($0.0)=\(Self.quoted($0.1))" }.joined()
            write("\(timestamp) \(level.rawValue) \(label): \(message)\(tail)")
        case .json:
            var object: [String: Any] = [
                "timestamp": timestamp, "level": level.rawValue, "label": label, "message": message,
            ]
            if !fields.isEmpty { object["metadata"] = Dictionary(fields, uniquingKeysWith: { $1 }) }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                write(String(decoding: data, as: UTF8.self))
            }
        }
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): "[" + values.map(text).joined(separator: ", ") + "]"
        case .dictionary(let values):
            "{" + values.keys.sorted().map { "\($0): \(text(values[$0]!))" }.joined(separator: ", ") + "}"
        }
    }

    static func quoted(_ text: String) -> String {
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline }) else { return text }
        return "\""
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func timestamp() -> String {
        Date().ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
