public import Foundation

/// A fixture of the transport and store tests: a temp dir with a served file of pseudo-random bytes and a running
/// loopback server.
public final class ServedFile {
    /// The temp dir (removed on deinit).
    public let dir: TemporaryDirectory
    /// The server serving `root/` (stopped on deinit).
    public let server: LoopbackHTTPServer
    /// The served file's bytes.
    public let bytes: [UInt8]
    /// The file's URL path (`/<name>`).
    public let path: String

    /// Writes `size` pattern bytes as `name` and starts the server.
    public init(size: Int = 300_000, name: String = "model.bin") throws {
        dir = try TemporaryDirectory(prefix: "comfylock-transport")
        let root = dir.appending("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        bytes = ServedFile.pattern(size: size, seed: UInt64(size))
        try Data(bytes).write(to: root.appendingPathComponent(name))
        server = try LoopbackHTTPServer(root: root)
        path = "/" + name
    }

    /// `size` deterministic pseudo-random bytes for `seed`.
    public static func pattern(size: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var out = [UInt8](repeating: 0, count: size)
        for i in out.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out[i] = UInt8(truncatingIfNeeded: state >> 33)
        }
        return out
    }

    /// The file's URL on the server.
    public var url: URL { server.url(path) }

    deinit {
        server.stop()
        dir.remove()
    }
}
