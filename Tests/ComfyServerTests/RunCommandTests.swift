import ComfyLock
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `comfy-cli run` as a real process, on the stand-in (attached) and on a version directory whose ComfyUI is the
/// stand-in posing as main.py.
@Suite("comfy-cli run", .serialized)
struct RunCommandTests {
    func write(_ text: String, to dir: TemporaryDirectory, name: String = "w.json") throws -> String {
        let path = dir.appending(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("attached: exit 0, --json report with every output and its hashes, files written to --out")
    func attachedJSON() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let workflow = try write(Workflows.everyKind, to: dir)
        let out = dir.appending("out").path
        let result = try Subprocess.comfyCLI([
            "run", "--workflow", workflow, "--comfyui-url", standIn.baseURL.absoluteString, "--out", out, "--json",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONParser.parse(result.standardOutput)
        #expect(report["ok"] == true)
        let outputs = try #require(report["outputs"]?.arrayValue)
        #expect(Set(outputs.compactMap { $0["kind"]?.stringValue }) == ["image", "video", "audio", "text", "file"])
        #expect(outputs.allSatisfy { ($0["sha256"]?.stringValue?.count ?? 0) == 64 })
        #expect(FileManager.default.fileExists(atPath: out + "/kinds/tone_00001_.wav"))
    }

    @Test("exit 1 for a workflow that fails (node named), 2 for a UI-format workflow and for usage errors")
    func exitCodes() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = standIn.baseURL.absoluteString
        let failing = try write(Workflows.through("StandInFail", extra: #","message":"kaput""#), to: dir)
        let failed = try Subprocess.comfyCLI(["run", "--workflow", failing, "--comfyui-url", url])
        #expect(failed.status == 1)
        #expect(failed.standardError.contains("node 2 (StandInFail)"))
        #expect(failed.standardError.contains("kaput"))

        let invalid = try write(#"{"1":{"class_type":"NoSuchNode","inputs":{}}}"#, to: dir, name: "bad.json")
        let refused = try Subprocess.comfyCLI(["run", "--workflow", invalid, "--comfyui-url", url, "--json"])
        #expect(refused.status == 1)
        let report = try JSONParser.parse(refused.standardOutput)
        #expect(report["error"]?["kind"] == "validation")
        #expect(report["error"]?["node_id"] == "1")

        let ui = try write(#"{"nodes":[],"links":[]}"#, to: dir, name: "ui.json")
        let uiResult = try Subprocess.comfyCLI(["run", "--workflow", ui, "--comfyui-url", url])
        #expect(uiResult.status == 2)
        #expect(uiResult.standardError.contains("Export (API)"))

        let usage = try Subprocess.comfyCLI(["run", "--workflow", ui])
        #expect(usage.status == 2)
        #expect(usage.standardError.contains("exactly one of --version"))
    }

    @Test("--version starts ComfyUI from the version directory, uploads --input and reports per-node progress")
    func fromVersion() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        _ = try StandInVersionDirectory.create(at: root.url)
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        // A real PNG to upload: made by the stand-in.
        let seeded = try write(Workflows.noise(seed: 5), to: root, name: "noise.json")
        let made = try Subprocess.comfyCLI([
            "run", "--workflow", seeded, "--comfyui-url", standIn.baseURL.absoluteString, "--out",
            root.appending("made").path,
        ])
        #expect(made.status == 0, "\(made.standardError)")
        let workflow = try write(
            #"{"1":{"class_type":"LoadImage","inputs":{"image":"x.png"}},"#
                + #""2":{"class_type":"SaveImage","inputs":{"images":["1",0],"filename_prefix":"loaded"}}}"#,
            to: root)
        let result = try Subprocess.comfyCLI([
            "run", "--workflow", workflow, "--version", "v1", "--root", root.path, "--comfyui-arg=--cpu",
            "--input", "1.image=" + root.appending("made/noise_00001_.png").path, "--timeout", "60",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("ComfyUI ready at http://127.0.0.1:"))
        #expect(result.standardError.contains("[1/2] node 1 LoadImage"))
        #expect(result.standardOutput.contains("node 2 SaveImage image loaded_00001_.png"))
    }

    @Test("no ComfyUI survives: SIGKILL comfy-cli run mid-job and its ComfyUI dies with it")
    func noOrphanAfterKill() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        // The stand-in's own parent watch is off: only the supervisor's guarantee can kill it.
        let version = try StandInVersionDirectory.create(
            at: root.url, environment: ["COMFYUI_STANDIN_NO_PARENT_WATCH": "1"])
        let workflow = try write(Workflows.sleep(60), to: root)
        let cli = Process()
        cli.executableURL = TestPaths.comfyCLI
        cli.arguments = ["run", "--workflow", workflow, "--version", "v1", "--root", root.path]
        let errors = Pipe()
        cli.standardError = errors
        cli.standardOutput = FileHandle.nullDevice
        try cli.run()
        // Wait for the job to start, then find the ComfyUI process by its main.py path.
        let handle = errors.fileHandleForReading
        var seen = ""
        while !seen.contains("[2/3]") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(seen.contains("[2/3] node 2 StandInSleep"), "\(seen)")
        let main = version.appendingPathComponent("ComfyUI/main.py").path
        let comfy = try #require(Self.processes(withArgument: main).first, "ComfyUI is running")
        kill(cli.processIdentifier, SIGKILL)
        cli.waitUntilExit()
        #expect(await ProcessLiveness.waitUntilGone(comfy), "ComfyUI outlived comfy-cli")
    }

    static func processes(withArgument argument: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument }
        }
    }
}
