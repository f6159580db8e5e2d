internal import ComfySupport
internal import ComfyTransport

/// An error of a lock edit (`LockEditor`, `LockPinning`): a node that is not there or already is, an edit the lock
/// cannot take, or a node's requirements that clash with the lock's pinned closure.
///
/// Messages name the node, package or reference involved; names from the lock or a repository are escaped.
public struct LockEditError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case nodeNotFound, nodeExists, invalidEdit, closureConflict
    }

    private let code: Code
    /// What went wrong.
    public let message: String
    /// For a closure conflict: the pinned packages the node's requirements would move, `name: old → new`, when a
    /// resolution without the lock's pins succeeded.
    public let wouldChange: [String]

    private init(_ code: Code, _ message: String, wouldChange: [String] = []) {
        self.code = code
        self.message = SecretScrubber.scrub(message)
        self.wouldChange = wouldChange
    }

    /// The lock has no custom node `name`.
    public static func nodeNotFound(_ name: String, known: [String]) -> LockEditError {
        let list = known.isEmpty ? "it has none" : "it has " + known.map { Escaping.quoted($0) }.joined(separator: ", ")
        return .init(.nodeNotFound, "the lock has no custom node \(Escaping.quoted(name)) (\(list))")
    }

    /// The lock already has a custom node `name`.
    public static func nodeExists(_ name: String) -> LockEditError {
        .init(
            .nodeExists,
            "the lock already has a custom node \(Escaping.quoted(name)); use `lock update --node \(name)@REF` to move "
                + "it, or --name to add this one under another name")
    }

    /// The edit is not possible as asked.
    public static func invalidEdit(_ message: String) -> LockEditError { .init(.invalidEdit, message) }

    /// The requirements do not resolve together with the lock's pins.
    public static func closureConflict(_ message: String, wouldChange: [String]) -> LockEditError {
        .init(.closureConflict, message, wouldChange: wouldChange)
    }

    /// True for a clash between requirements and the pinned closure.
    public var isClosureConflict: Bool { code == .closureConflict }

    /// The message.
    public var description: String { message }
}
