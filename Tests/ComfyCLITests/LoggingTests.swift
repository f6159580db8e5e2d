import ArgumentParser
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ComfyCLI

/// Lines a handler wrote. `@unchecked Sendable`: guarded by the mutex.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite("logging")
struct LoggingTests {
    static let token = "hf_SuperSecretToken123"

    func logger(_ format: LogFormat, into lines: LogLines) -> Logger {
        var logger = Logger(label: "test") { label in
            RedactingLogHandler(label: label, format: format, secrets: [Self.token]) { lines.append($0) }
        }
        logger.logLevel = .trace
        return logger
    }

    @Test(
        "no token reaches a log line: message, metadata strings, arrays, dictionaries, URLs, headers",
        arguments: LogFormat.allCases)
    func tokenNeverLogged(format: LogFormat) throws {
        let lines = LogLines()
        let log = logger(format, into: lines)
        log.info("fetching with \(Self.token)")
        log.debug("request", metadata: ["url": "https://u:\(Self.token)@h/x?sig=abc123&a=1"])
        log.notice("header", metadata: ["h": .array(["Authorization: Bearer \(Self.token)"])])
        log.error("nested", metadata: ["d": .dictionary(["k": "access_token=zz\(Self.token)"])])
        log.warning("jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhQGIuYyJ9.c2lnbmF0dXJlX2J5dGVz")
        #expect(lines.all.count == 5)
        for line in lines.all {
            #expect(!line.contains(Self.token), "\(line)")
            #expect(!line.contains("abc123") && !line.contains("eyJpc3Mi"), "\(line)")
            #expect(!line.contains("\n"))
            if format == .json {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["label"] as? String == "test")
                #expect(object["level"] != nil && object["message"] != nil && object["timestamp"] != nil)
            }
        }
        #expect(lines.all[1].contains("a=1"))
        #expect(lines.all[0].contains(format == .text ? "info test: fetching with ***" : "fetching with ***"))
    }

    @Test("--log-level wins over -v, which wins over COMFYLOCK_LOG_LEVEL; the default is warning")
    func levels() throws {
        let env = ["COMFYLOCK_LOG_LEVEL": "ERROR"]
        #expect(try LoggingOptions.parse([]).level(environment: [:]) == .warning)
        #expect(try LoggingOptions.parse([]).level(environment: env) == .error)
        #expect(try LoggingOptions.parse(["-v"]).level(environment: env) == .debug)
        #expect(try LoggingOptions.parse(["--verbose", "--log-level", "trace"]).level(environment: env) == .trace)
        #expect(try LoggingOptions.parse(["--log-format", "json"]).logFormat == .json)
        #expect(throws: (any Error).self) { try LoggingOptions.parse(["--log-level", "loud"]) }
        #expect(throws: (any Error).self) { try LoggingOptions.parse(["--log-format", "xml"]) }
    }

    @Test("models fetch at trace level logs the download as JSON lines on stderr, without the URL's secrets")
    func fetchLogsWithoutSecrets() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bytes = [UInt8]((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try Data(bytes).write(to: dir.appending("m.bin"))
        let server = try LoopbackHTTPServer(root: dir.url)
        defer { server.stop() }
        let hash = CapturingConsole()
        _ = await Console.$current.withValue(hash.console) {
            await CLI.run(["models", "hash", dir.appending("m.bin").path])
        }
        let sha = String(hash.standardOutput.prefix(64))
        let url =
            server.url("/m.bin").absoluteString.replacingOccurrences(of: "http://", with: "http://user:PassWord77@")
            + "?token=QueryTok99&x=1"
        let capture = CapturingConsole()
        let code = await Console.$current.withValue(capture.console) {
            await CLI.run([
                "models", "fetch", url, "--sha256", sha, "-o", dir.appending("out/m.bin").path,
                "--store", dir.appending("store").path, "--log-level", "trace", "--log-format", "json",
            ])
        }
        #expect(code == 0, "\(capture.standardError)")
        let everything = capture.standardOutput + capture.standardError
        #expect(!everything.contains("PassWord77"))
        #expect(!everything.contains("QueryTok99"))
        let logLines = capture.standardError.split(separator: "\n").filter { $0.hasPrefix("{") }
        let messages = logLines.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["message"] as? String
        }
        #expect(messages.contains("downloading"), "\(capture.standardError)")
        #expect(messages.contains("request") || messages.contains("stream"), "\(capture.standardError)")
    }
}
