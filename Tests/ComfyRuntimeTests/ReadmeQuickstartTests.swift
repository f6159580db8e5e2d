import ComfyCrypto
import Foundation
import TestSupport
import Testing

/// The readme's quickstart, run literally: every command line of the block after the `<!-- quickstart: … -->` marker
/// in `readme.md` is run by bash, in order, in a directory laid out like this checkout (`workflows/`, `docker/`,
/// `lockfiles/`), with `comfy-cli` and `comfy-handler` of this build first on `PATH` and `HOME` in a temp dir. Only the
/// sources are local stand-ins, reached through the documented mirror settings — the same commands work against
/// GitHub and PyPI without them:
/// - `https://github.com/Comfy-Org/ComfyUI` → a git repo tagged `v0.3.64` whose `main.py` is the ComfyUI-API stand-in
///   (real HTTP + WebSocket, real PNGs) and whose `requirements.txt` names Pillow (`COMFYLOCK_GIT_MIRROR`);
/// - `https://pypi.org/simple` and `https://files.pythonhosted.org/packages/` → a loopback PEP 503 index serving a
///   real Pillow wheel (`COMFYLOCK_PACKAGE_MIRROR`).
/// The one line that needs a container engine (`docker build`) is not run here: `scripts/docker_smoke.sh` builds that
/// Dockerfile (opt-in). The test fails when the block is missing, when any other line is skipped or exits non-zero,
/// and when the lock, the version, the run and the handler's result do not say what the readme says they do.
@Suite(
    "readme quickstart, run literally", .serialized,
    .enabled(
        if: FileManager.default.fileExists(
            atPath: TestPaths.testVenv.appendingPathComponent("fixture-wheels").path),
        "needs scripts/bootstrap.sh's fixture wheels"))
struct ReadmeQuickstartTests {
    static let marker = "<!-- quickstart:"

    /// The command lines of the quickstart block (comments and blank lines dropped).
    static func quickstartLines() throws -> [String] {
        let readme = try String(
            contentsOf: TestPaths.repositoryRoot.appendingPathComponent("readme.md"), encoding: .utf8)
        let afterMarker = try #require(readme.range(of: marker), "readme.md has no \(marker) block").upperBound
        let rest = readme[afterMarker...]
        let open = try #require(rest.range(of: "```sh\n"), "no ```sh block after the marker")
        let close = try #require(rest[open.upperBound...].range(of: "\n```"), "the quickstart block is not closed")
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    @Test("every command of the readme quickstart runs and does what the readme says")
    func quickstart() throws {
        let lines = try Self.quickstartLines()
        let skipped = lines.filter { $0.hasPrefix("docker ") }
        #expect(skipped.count == 1, "only the docker build may be left to the smoke test: \(skipped)")
        let commands = lines.filter { !$0.hasPrefix("docker ") }
        #expect(commands.count >= 7, "\(commands)")
        for stage in [
            "comfy-cli init", "comfy-cli lock create", "comfy-cli pin", "comfy-cli version create",
            "comfy-cli run", "comfy-handler",
        ] {
            #expect(commands.contains { $0.hasPrefix(stage) }, "the quickstart lost its \(stage) step")
        }

        let temp = try TemporaryDirectory(prefix: "comfylock-quickstart")
        defer { temp.remove() }
        let fm = FileManager.default
        let home = temp.appending("home")
        let checkout = temp.appending("checkout")
        try fm.createDirectory(at: home, withIntermediateDirectories: true)
        try fm.createDirectory(at: checkout.appendingPathComponent("lockfiles"), withIntermediateDirectories: true)
        for dir in ["workflows", "docker"] {
            try fm.createSymbolicLink(
                at: checkout.appendingPathComponent(dir),
                withDestinationURL: TestPaths.repositoryRoot.appendingPathComponent(dir))
        }

        // PyPI's stand-in: a real Pillow wheel (what the stand-in ComfyUI imports) in a PEP 503 index.
        let wheels = TestPaths.testVenv.appendingPathComponent("fixture-wheels")
        let wheel = try #require(
            try fm.contentsOfDirectory(atPath: wheels.path).first { $0.lowercased().hasPrefix("pillow-") })
        let index = temp.appending("pypi")
        try fm.createDirectory(at: index.appendingPathComponent("files"), withIntermediateDirectories: true)
        try fm.createDirectory(at: index.appendingPathComponent("simple/pillow"), withIntermediateDirectories: true)
        try fm.copyItem(at: wheels.appendingPathComponent(wheel), to: index.appendingPathComponent("files/" + wheel))
        let wheelSHA = try SHA256.hashFile(atPath: index.appendingPathComponent("files/" + wheel).path).digest.hex
        try "<html><body><a href=\"../../files/\(wheel)#sha256=\(wheelSHA)\">\(wheel)</a></body></html>\n".write(
            to: index.appendingPathComponent("simple/pillow/index.html"), atomically: true, encoding: .utf8)
        let server = try StaticFileServer(directory: index)
        defer { server.stop() }

        // GitHub's stand-in: Comfy-Org/ComfyUI tagged v0.3.64, ComfyUI's own .gitignore, the stand-in as main.py.
        let upstream = temp.appending("github/Comfy-Org/ComfyUI")
        try fm.createDirectory(at: upstream, withIntermediateDirectories: true)
        try fm.copyItem(
            at: TestPaths.testScripts.appendingPathComponent("comfyui_standin.py"),
            to: upstream.appendingPathComponent("main.py"))
        try "Pillow\n".write(to: upstream.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        try ComfyUIShapedFixture.gitignore.write(
            to: upstream.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        _ = try RuntimeFixture.git(["init", "-q", "-b", "master"], in: upstream)
        _ = try RuntimeFixture.git(["add", "-A"], in: upstream)
        _ = try RuntimeFixture.git(["commit", "-q", "-m", "ComfyUI stand-in"], in: upstream)
        _ = try RuntimeFixture.git(["tag", "v0.3.64"], in: upstream)
        let commit = try RuntimeFixture.git(["rev-parse", "HEAD"], in: upstream)

        let path = [TestPaths.productsDirectory.path, "/usr/local/bin", "/usr/bin", "/bin"].joined(separator: ":")
        let environment = [
            "HOME": home.path, "PATH": path, "XDG_CONFIG_HOME": home.path + "/.config",
            "XDG_CACHE_HOME": home.path + "/.cache", "GIT_CONFIG_NOSYSTEM": "1",
            "COMFYLOCK_STORE": temp.path + "/store", "COMFYLOCK_VERSIONS": temp.path + "/versions",
            "COMFYLOCK_UV": TestPaths.testVenv.appendingPathComponent("bin/uv").path,
            "COMFYLOCK_GIT_MIRROR": "https://github.com/Comfy-Org/=file://\(temp.path)/github/Comfy-Org/",
            "COMFYLOCK_PACKAGE_MIRROR":
                "https://pypi.org/simple=\(server.baseURL)/simple;"
                + "https://files.pythonhosted.org/packages/=\(server.baseURL)/files/",
            "COMFYLOCK_MODEL_MIRROR": "", "COMFYLOCK_MIRRORS": "",
        ]
        var outputs: [String: String] = [:]
        for command in commands {
            let result = try Subprocess.run(
                "/bin/bash", ["-c", "cd \"$1\" && eval \"$2\"", "quickstart", checkout.path, command],
                environment: environment)
            #expect(
                result.status == 0,
                "`\(command)` exited \(result.status):\n\(result.standardOutput)\n\(result.standardError)")
            if result.status != 0 { return }
            outputs[command] = result.standardOutput
        }

        // The lock: the stand-in's commit and tag, Pillow pinned under PyPI's own URL (never the mirror's).
        let lockPath = checkout.appendingPathComponent("lockfiles/prod-1.lock.json")
        let lockJSON = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: lockPath)) as? [String: Any])
        let comfy = try #require(lockJSON["comfyui"] as? [String: Any])
        #expect(comfy["commit"] as? String == commit)
        #expect(comfy["ref"] as? String == "v0.3.64")
        #expect(comfy["url"] as? String == "https://github.com/Comfy-Org/ComfyUI")
        let python = try #require(lockJSON["python"] as? [String: Any])
        let packages = try #require(python["packages"] as? [[String: Any]])
        let pillow = try #require(packages.first { $0["name"] as? String == "pillow" }, "\(packages)")
        let artifacts = try #require(pillow["artifacts"] as? [[String: Any]])
        #expect(artifacts.map { $0["url"] as? String } == ["https://files.pythonhosted.org/packages/" + wheel])
        #expect(artifacts.map { $0["sha256"] as? String } == [wheelSHA])
        #expect(!String(decoding: try Data(contentsOf: lockPath), as: UTF8.self).contains("127.0.0.1"))
        let digest = try Subprocess.comfyCLI(["lock", "digest", lockPath.path]).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // The version exists where the readme says, and `run` reported a PNG with its sha256.
        #expect(fm.fileExists(atPath: temp.path + "/versions/prod-1/ComfyUI/main.py"))
        let run = try #require(outputs.first { $0.key.hasPrefix("comfy-cli run") }?.value)
        #expect(run.range(of: "[0-9a-f]{64}", options: .regularExpression) != nil, "run printed: \(run)")

        // The handler's one-job result: RunPod-shaped, the PNG hashed, the environment named.
        let handler = try #require(outputs.first { $0.key.hasPrefix("comfy-handler") }?.value)
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data(handler.utf8)) as? [String: Any], "handler printed: \(handler)")
        let output = try #require(result["output"] as? [String: Any], "\(result)")
        let images = try #require(output["outputs"] as? [[String: Any]])
        #expect(images.count == 1)
        let data = try #require(images.first?["data"] as? String)
        let png = try #require(Data(base64Encoded: data))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(images.first?["sha256"] as? String == SHA256.hash(Array(png)).hex)
        #expect(output["lock_digest"] as? String == digest)
        let env = try #require(output["environment"] as? [String: Any])
        #expect(env["comfyui_commit"] as? String == commit)
    }
}
