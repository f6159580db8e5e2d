public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Paths and helpers shared by every test target. Tests use real parts (git, python venvs, loopback servers);
/// these helpers find them and clean up after them.
public enum TestPaths {
    /// The package root (the directory holding Package.swift), found from this source file's location.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The build products directory holding `comfy-cli` and `comfy-handler` (next to the test bundle).
    public static let productsDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["COMFYLOCK_PRODUCTS_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("comfy-cli").path) { return url }
        }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }()

    /// The built `comfy-cli` executable.
    public static var comfyCLI: URL { productsDirectory.appendingPathComponent("comfy-cli") }

    /// The project-local Python venv made by `scripts/test.sh` (emulator, Google's client, uv, test servers).
    public static let testVenv: URL = {
        if let dir = ProcessInfo.processInfo.environment["COMFYLOCK_TEST_VENV"] { return URL(fileURLWithPath: dir) }
        return repositoryRoot.appendingPathComponent(".venv-test")
    }()

    /// The test venv's python interpreter.
    public static var python: URL { testVenv.appendingPathComponent("bin/python") }

    /// Helper scripts used by tests (loopback servers and the like) live here.
    public static var testScripts: URL { repositoryRoot.appendingPathComponent("scripts/testsupport") }
}

/// A fresh directory under the system temp dir, removed by `remove()` (tests call it in `defer`).
public struct TemporaryDirectory: Sendable {
    /// The directory's URL.
    public let url: URL
    /// The directory's path.
    public var path: String { url.path }

    /// Creates a unique directory whose name starts with `prefix`.
    public init(prefix: String = "comfylock-test") throws {
        var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        url = URL(fileURLWithPath: String(cString: made)).resolvingSymlinksInPath()
    }

    /// A path inside the directory.
    public func appending(_ component: String) -> URL { url.appendingPathComponent(component) }

    /// Deletes the directory and everything in it (making read-only entries writable first).
    public func remove() {
        _ = try? Subprocess.run("/bin/chmod", ["-R", "u+w", path])
        if (try? FileManager.default.removeItem(at: url)) == nil, FileManager.default.fileExists(atPath: path) {
            // Store blobs shared with versions are immutable (FS_IMMUTABLE_FL) where permitted: clear it first.
            _ = try? Subprocess.run("/usr/bin/chattr", ["-R", "-f", "-i", path])
            try? FileManager.default.removeItem(at: url)
        }
    }
}

/// The result of a finished subprocess.
public struct SubprocessResult: Sendable {
    /// Exit status (or 128 + signal).
    public let status: Int32
    /// Everything written to standard output.
    public let standardOutput: String
    /// Everything written to standard error.
    public let standardError: String
}

/// Runs real programs for tests (git, python, comfy-cli).
public enum Subprocess {
    /// Runs `executable` with `arguments` and waits for it; standard input is empty unless `input` is given.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: URL? = nil, input: Data? = nil
    ) throws -> SubprocessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("sp-\(UUID().uuidString).out")
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("sp-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        let inPipe = Pipe()
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
        process.waitUntilExit()
        try? outHandle.close()
        try? errHandle.close()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return SubprocessResult(status: status, standardOutput: out, standardError: err)
    }

    /// Runs the built `comfy-cli` with `arguments`.
    @discardableResult
    public static func comfyCLI(
        _ arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil, input: Data? = nil
    ) throws -> SubprocessResult {
        try run(
            TestPaths.comfyCLI.path, arguments, environment: environment, currentDirectory: currentDirectory,
            input: input)
    }
}

/// The one loopback socket helper of the tests: plain BSD sockets on 127.0.0.1, no dependency on the transport
/// under test.
public enum LoopbackSocket {
    /// A TCP socket bound to 127.0.0.1 port 0 (the kernel picks the port) and the port it got; not listening.
    public static func bindEphemeral() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var addr = address(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard bound == 0,
            withUnsafeMutablePointer(
                to: &addr,
                {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
                }) == 0
        else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A TCP connection to 127.0.0.1:`port` (the caller closes the descriptor), or `nil` when it is refused.
    public static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = address(port: port)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// True when something accepts connections on 127.0.0.1:`port`.
    public static func accepts(port: Int) -> Bool {
        guard let fd = connect(port: port) else { return false }
        close(fd)
        return true
    }

    static func address(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}

/// Loopback ports for tests. There is no "free port" helper on purpose: a port found free and closed again can be
/// taken by another process before a server binds it. Every test server binds port 0 itself and reports the port
/// (`READY <port>`), the GCS emulator included (`GCSEmulator`).
public enum LoopbackPort {
    /// A port on 127.0.0.1 that refuses connections for as long as the result lives: bound to port 0 but not
    /// listening, so no other process can take it meanwhile (a closed one could be reused at once).
    public static func refusing() throws -> ReservedPort { try ReservedPort() }
}

/// A bound, non-listening TCP socket on 127.0.0.1 (connections to `port` are refused); closed on deinit.
public final class ReservedPort: Sendable {
    /// The port number.
    public let port: Int
    private let fd: Int32

    init() throws { (fd, port) = try LoopbackSocket.bindEphemeral() }

    deinit { close(fd) }
}

/// The one reader of the line a test server prints once it listens (`READY <port>` for the servers that bind port 0:
/// http_server.py, the ComfyUI stand-in, the GCS emulator wrapper; `PORT <port>` for the GCS helper scripts).
public enum ServerReadyLine {
    /// Reads `handle` up to the first newline (or end of file) and returns the port after `prefix`, with the line
    /// as read (for the error message when there is no port).
    public static func port(from handle: FileHandle, prefix: String = "READY ") -> (port: Int?, line: String) {
        var data = Data()
        while !data.contains(0x0A) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        let text = String(decoding: data, as: UTF8.self)
        let line =
            text.split(separator: "\n").first.map(String.init)?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? ""
        guard line.hasPrefix(prefix), let port = Int(line.dropFirst(prefix.count)) else { return (nil, line) }
        return (port, line)
    }
}
