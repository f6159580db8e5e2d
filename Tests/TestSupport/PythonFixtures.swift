public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tiny pure-Python wheel a test builds: one module `<name>/__init__.py`, `Requires-Dist` lines, tag `py3-none-any`.
public struct TestWheel: Sendable, Hashable {
    /// Distribution name (also the import name, with `-` → `_`).
    public var name: String
    /// Version.
    public var version: String
    /// `Requires-Dist` values, e.g. `["shared==1.0"]`.
    public var requires: [String]
    /// Extra module source appended to `__init__.py` (changes the wheel's bytes and hash).
    public var code: String
    /// Console scripts: script name → `module:function`.
    public var scripts: [String: String]
    /// The wheel's platform tag (`py3-none-<platform>`; `any` = pure), e.g. `manylinux_2_28_x86_64`.
    public var platform: String

    /// Creates a wheel description.
    public init(
        _ name: String, _ version: String, requires: [String] = [], code: String = "", scripts: [String: String] = [:],
        platform: String = "any"
    ) {
        self.platform = platform
        self.name = name
        self.version = version
        self.requires = requires
        self.code = code
        self.scripts = scripts
    }
}

/// Wheels built by the test venv's Python, laid out as a PEP 503 simple index:
/// `files/<wheel>` and `simple/<name>/index.html` linking `../../files/<wheel>#sha256=<hex>`.
/// The wheels are deterministic (fixed zip timestamps), valid (`RECORD` with hashes) and installable by pip and uv.
public struct WheelIndexFixture: Sendable {
    /// The root directory (serve it over HTTP: the index is at `/simple`).
    public let root: URL
    /// The directory holding the wheel files (usable as a wheelhouse / `--find-links`).
    public var files: URL { root.appendingPathComponent("files") }
    /// sha256 of each wheel, by filename.
    public let sha256: [String: String]

    /// Builds `wheels` under `root` (created if needed). More wheels can be added later with another call.
    public static func build(_ wheels: [TestWheel], at root: URL) throws -> WheelIndexFixture {
        let spec: [String: Any] = [
            "dir": root.path,
            "wheels": wheels.map {
                [
                    "name": $0.name, "version": $0.version, "requires": $0.requires, "code": $0.code,
                    "scripts": $0.scripts, "platform": $0.platform,
                ]
            },
        ]
        let input = try JSONSerialization.data(withJSONObject: spec)
        let result = try Subprocess.run(
            TestPaths.python.path, ["-I", "-c", builderScript], environment: ["PIP_CONFIG_FILE": "/dev/null"],
            input: input)
        guard result.status == 0,
            let data = result.standardOutput.data(using: .utf8),
            let hashes = try JSONSerialization.jsonObject(with: data) as? [String: String]
        else {
            throw FixtureError(message: "building wheels failed: \(result.standardError)")
        }
        return WheelIndexFixture(root: root, sha256: hashes)
    }

    /// The filename of the wheel for `name` `version` (`platform`: see `TestWheel.platform`).
    public static func filename(_ name: String, _ version: String, platform: String = "any") -> String {
        "\(name.replacingOccurrences(of: "-", with: "_"))-\(version)-py3-none-\(platform).whl"
    }

    /// The sha256 of the wheel for `name` `version`.
    public func sha256(of name: String, _ version: String) -> String? { sha256[Self.filename(name, version)] }

    // Builds the wheels and (re)writes the simple index for everything under files/. Prints {filename: sha256}.
    private static let builderScript = #"""
        import base64, hashlib, json, os, sys, zipfile
        spec = json.load(sys.stdin)
        root = spec["dir"]
        files = os.path.join(root, "files")
        os.makedirs(files, exist_ok=True)
        def rec(data):
            d = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            return "sha256=%s,%d" % (d, len(data))
        for w in spec["wheels"]:
            name, ver = w["name"], w["version"]
            mod = name.replace("-", "_")
            dist = "%s-%s.dist-info" % (mod, ver)
            content = {}
            content[mod + "/__init__.py"] = ("__version__ = %r\n%s" % (ver, w.get("code", ""))).encode()
            meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, ver)
            for r in w.get("requires", []):
                meta += "Requires-Dist: %s\n" % r
            content[dist + "/METADATA"] = meta.encode()
            if w.get("scripts"):
                content[dist + "/entry_points.txt"] = ("[console_scripts]\n" + "".join(
                    "%s = %s\n" % (k, v) for k, v in sorted(w["scripts"].items()))).encode()
            plat = w.get("platform", "any")
            content[dist + "/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: comfylock-tests\n"
                                        "Root-Is-Purelib: %s\nTag: py3-none-%s\n"
                                        % ("true" if plat == "any" else "false", plat)).encode()
            record = "".join("%s,%s\n" % (p, rec(d)) for p, d in content.items()) + dist + "/RECORD,,\n"
            content[dist + "/RECORD"] = record.encode()
            path = os.path.join(files, "%s-%s-py3-none-%s.whl" % (mod, ver, plat))
            with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
                for p, d in content.items():
                    info = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    z.writestr(info, d)
            os.replace(path + ".tmp", path)
        index = {}
        hashes = {}
        for fn in sorted(os.listdir(files)):
            if not fn.endswith(".whl"):
                continue
            sha = hashlib.sha256(open(os.path.join(files, fn), "rb").read()).hexdigest()
            hashes[fn] = sha
            project = fn.split("-")[0].replace("_", "-").lower()
            index.setdefault(project, []).append((fn, sha))
        simple = os.path.join(root, "simple")
        os.makedirs(simple, exist_ok=True)
        with open(os.path.join(simple, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><html><body>\n")
            for n in sorted(index):
                f.write('<a href="%s/">%s</a>\n' % (n, n))
            f.write("</body></html>\n")
        for n, entries in index.items():
            os.makedirs(os.path.join(simple, n), exist_ok=True)
            with open(os.path.join(simple, n, "index.html"), "w") as f:
                f.write("<!DOCTYPE html><html><body>\n")
                for fn, sha in entries:
                    f.write('<a href="../../files/%s#sha256=%s">%s</a><br/>\n' % (fn, sha, fn))
                f.write("</body></html>\n")
        print(json.dumps(hashes))
        """#
}

/// An error building a fixture.
public struct FixtureError: Error, CustomStringConvertible {
    /// What failed.
    public let message: String
    /// Same as `message`.
    public var description: String { message }
    /// An error saying `message`.
    public init(message: String) { self.message = message }
}

/// A static file server on 127.0.0.1 (the test venv's `python -m http.server`), for serving a simple index and
/// wheels. Stopped by `stop()` (tests call it in `defer`).
public final class StaticFileServer: @unchecked Sendable {  // Process is not Sendable; only start/stop touch it.
    private let process: Process
    /// The port it listens on.
    public let port: Int
    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts serving `directory` and waits until the port accepts connections.
    public init(directory: URL) throws {
        // Port 0: the server binds a port the kernel picks and prints it ("Serving HTTP on 127.0.0.1 port N"), so
        // no other process can take the port between choosing and binding it.
        let process = Process()
        process.executableURL = TestPaths.python
        process.arguments = [
            "-I", "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory.path, "0",
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var text = ""
        while !text.contains("\n"), process.isRunning {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: " port "),
            let port = Int(text[range.upperBound...].prefix { $0.isNumber }), LoopbackSocket.accepts(port: port)
        else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw FixtureError(message: "http.server did not start: \(text)")
        }
        self.process = process
        self.port = port
    }

    /// Stops the server. SIGKILL, because children started from test threads inherit a signal mask that blocks
    /// SIGTERM (Foundation's `Process` does not reset it).
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}
