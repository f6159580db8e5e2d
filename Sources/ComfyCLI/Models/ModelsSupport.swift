public import ArgumentParser
import ComfyModels
import ComfySupport
import ComfyTransport
import Foundation
import Logging
import Synchronization

/// Options shared by the `models` commands that use the store.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("store"), help: "The store directory (default: $COMFYLOCK_STORE, else ~/.cache/comfylock).")
    var storePath: String?

    @Option(
        name: .customLong("mode"),
        help: "How files are placed from the store: auto (reflink, hardlink, copy), reflink, hardlink, copy or symlink."
    )
    var mode: MaterializeMode = .auto

    /// The store these options name, logging to `logger`.
    func store(logger: Logger) -> ModelStore {
        let client = HTTPClient(configuration: .fromEnvironment(), logger: logger)
        var store = ModelStore(
            root: storePath.map { URL(fileURLWithPath: $0) }
                ?? ModelStore.defaultRoot(environment: ProcessInfo.processInfo.environment),
            client: client, logger: logger)
        store.downloadIO = DownloadIO.fromEnvironment()
        return store
    }
}

/// `--mode` takes the store's `MaterializeMode` values as they are.
extension MaterializeMode: ExpressibleByArgument {}

/// Shared plumbing of the `models` commands.
enum ModelsCLI {
    /// Runs `body` with a console that passes everything it prints through `Redaction` with every known credential
    /// value (`HostCredentials.secrets`) — a second line of defence: messages are built without secrets already.
    static func scrubbingSecrets<T>(_ body: () async throws -> T) async rethrows -> T {
        let secrets = HostCredentials.fromEnvironment().secrets
        let base = Console.current
        let console = Console(isTerminal: base.isTerminal) { stream, text in
            let clean = Redaction.redact(text, secrets: secrets)
            if stream == .standardOutput { base.write(clean) } else { base.writeError(clean) }
        }
        return try await Console.$current.withValue(console) { try await body() }
    }

    /// `1.5 GB`-style sizes.
    static func bytes(_ value: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1000, unit < units.count - 1 {
            amount /= 1000
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }
}

/// Progress of several downloads at once: redrawn multi-line bars on a terminal (standard error), plain start and
/// end lines otherwise. Thread-safe: transfer threads report into it.
final class ProgressBoard: Sendable {
    private struct Line {
        var label: String
        var done: Int64
        var total: Int64?
        var rate: Double
    }

    private struct State {
        var lines: [String: Line] = [:]
        var order: [String] = []
        var drawn = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    private let state = Mutex(State())
    private let console: Console
    private let enabled: Bool

    /// A board writing to `console` (the current one); `enabled` false prints nothing (e.g. `--json`).
    init(console: Console = Console.current, enabled: Bool = true) {
        self.console = console
        self.enabled = enabled
    }

    /// A transfer started.
    func start(_ key: String, label: String) {
        guard enabled else { return }
        state.withLock { state in
            state.lines[key] = Line(label: label, done: 0, total: nil, rate: 0)
            state.order.append(key)
            if console.isTerminal { redraw(&state, force: true) } else { console.err("downloading \(label)") }
        }
    }

    /// A transfer progressed.
    func update(_ key: String, done: Int64, total: Int64?, rate: Double) {
        guard enabled, console.isTerminal else { return }
        state.withLock { state in
            guard state.lines[key] != nil else { return }
            state.lines[key]!.done = done
            state.lines[key]!.total = total
            state.lines[key]!.rate = rate
            redraw(&state, force: false)
        }
    }

    /// A transfer ended; `message` is printed once (above the bars on a terminal).
    func finish(_ key: String, message: String) {
        guard enabled else { return }
        state.withLock { state in
            state.lines[key] = nil
            state.order.removeAll { $0 == key }
            if console.isTerminal {
                clear(&state)
                console.writeError(message + "\n")
                redraw(&state, force: true)
            } else {
                console.err(message)
            }
        }
    }

    private func clear(_ state: inout State) {
        if state.drawn > 0 { console.writeError("\u{1B}[\(state.drawn)A\u{1B}[J") }
        state.drawn = 0
    }

    private func redraw(_ state: inout State, force: Bool) {
        let now = ContinuousClock.now
        guard force || now - state.lastDraw >= .milliseconds(100) else { return }
        state.lastDraw = now
        var text = state.drawn > 0 ? "\u{1B}[\(state.drawn)A" : ""
        for key in state.order {
            guard let line = state.lines[key] else { continue }
            text += "\r\u{1B}[2K" + Self.bar(line) + "\n"
        }
        text += "\u{1B}[J"
        state.drawn = state.order.count
        console.writeError(text)
    }

    private static func bar(_ line: Line) -> String {
        let width = 24
        let rate = ModelsCLI.bytes(Int64(line.rate)) + "/s"
        guard let total = line.total, total > 0 else {
            return "\(line.label)  \(ModelsCLI.bytes(line.done))  \(rate)"
        }
        let fraction = min(1, Double(line.done) / Double(total))
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let percent = String(format: "%3d%%", Int(fraction * 100))
        return "[\(bar)] \(percent) \(line.label)  \(ModelsCLI.bytes(line.done))/\(ModelsCLI.bytes(total))  \(rate)"
    }
}
