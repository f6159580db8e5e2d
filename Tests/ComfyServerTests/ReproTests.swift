import ComfyCLI
import ComfyLock
import ComfyServer
import Foundation
import TestSupport
import Testing

/// Reproducibility checks on the ComfyUI stand-in (real HTTP + WebSocket server, real PNGs written by Pillow).
@Suite("repro record / check on the ComfyUI stand-in")
struct ReproTests {
    static let base = Lock(
        tag: "repro", createdBy: "comfylock test",
        comfyui: ComfyUIPin(
            url: "https://git.fixture.invalid/comfy/ComfyUI.git", commit: String(repeating: "1", count: 40)),
        models: [
            ModelEntry(
                path: "checkpoints/x.safetensors", size: 7, sha256: String(repeating: "a", count: 64),
                sources: ["https://models.fixture.invalid/x.safetensors"])
        ])

    /// EmptyImage → ImageInvert → SaveImage, plus a seeded noise branch (ImageAddNoise, as in workflows/).
    static let workflow: JSONValue = [
        "1": ["class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 16711680]],
        "2": ["class_type": "ImageInvert", "inputs": ["image": ["1", 0]]],
        "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "probe"]],
        "4": ["class_type": "ImageAddNoise", "inputs": ["image": ["1", 0], "seed": 42, "strength": 0.5]],
        "5": ["class_type": "SaveImage", "inputs": ["images": ["4", 0], "filename_prefix": "noise"]],
    ]

    static func runner(_ standIn: ComfyUIStandIn) -> ReproWorkflowRunner {
        ReproWorkflowRunner(runner: WorkflowRunner(client: ComfyUIClient(baseURL: standIn.baseURL)))
    }

    static func record(on standIn: ComfyUIStandIn) async throws -> Lock {
        let (lock, entry) = try await ReproRecorder(runner: runner(standIn)).record(
            name: "probe", workflow: try Workflow(json: workflow), into: base)
        #expect(entry.expectedOutputs.map(\.name) == ["3:0", "5:0"])
        #expect(entry.recording?.seeds == [SeedInput(node: "4", input: "seed", value: 42)])
        #expect(lock.schemaVersion == 2)
        #expect(LockValidator.isValid(lock), "\(LockValidator.validate(lock))")
        return lock
    }

    @Test("record → check equal, also on the same server right after recording (runs are independent)")
    func recordCheckEqual() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let lock = try await Self.record(on: standIn)
        let entry = try #require(lock.workflows.first)
        #expect(entry.expectedOutputs.allSatisfy { $0.imageDataSha256?.count == 64 && $0.kind == "image" })
        #expect(entry.recording?.lockDigest == LockFile.recordingDigest(Self.base))
        // The recording does not invalidate itself.
        #expect(entry.recording?.changes(since: lock).isEmpty == true)

        let report = try await ReproChecker(runner: Self.runner(standIn)).check(lock: lock)
        #expect(report.passed, "\(report)")
        #expect(report.workflows.first?.verdict == .equal)
        #expect(report.workflows.first?.cached == false)
        #expect(report.workflows.first?.runs == 1)

        // A fresh server gives the same bytes.
        let other = try ComfyUIStandIn.start()
        defer { other.stop() }
        #expect(try await ReproChecker(runner: Self.runner(other)).check(lock: lock).passed)
    }

    @Test("a node that changed in the server: check fails naming that node's output, as drift (two runs agree)")
    func nodeChanged() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let lock = try await Self.record(on: standIn)
        let changed = try ComfyUIStandIn.start(extraArguments: ["--standin-alter-node", "ImageInvert"])
        defer { changed.stop() }
        let report = try await ReproChecker(runner: Self.runner(changed)).check(lock: lock)
        #expect(!report.passed)
        let check = try #require(report.workflows.first)
        #expect(check.verdict == .drift)
        #expect(check.runs == 2)
        let differing = check.outputs.filter { $0.status != .equal }
        #expect(differing.map(\.name) == ["3:0"])
        #expect(differing.first?.status == .imageData)
        #expect(differing.first?.description.hasPrefix("node 3 (SaveImage) output 3:0 probe_") == true)
    }

    @Test("PNG metadata changed (ComfyUI started with --disable-metadata): metadata only")
    func metadataOnly() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let lock = try await Self.record(on: standIn)
        let bare = try ComfyUIStandIn.start(disableMetadata: true)
        defer { bare.stop() }
        let check = try #require(try await ReproChecker(runner: Self.runner(bare)).check(lock: lock).workflows.first)
        #expect(check.verdict == .metadataOnly)
        #expect(check.outputs.allSatisfy { $0.status == .metadataOnly }, "\(check.outputs)")
    }

    @Test("a nondeterministic node: record refuses; check says nondeterministic, not drift")
    func nondeterminism() async throws {
        let noisy = try ComfyUIStandIn.start(extraArguments: ["--standin-alter-node", "ImageAddNoise=random"])
        defer { noisy.stop() }
        await #expect {
            _ = try await ReproRecorder(runner: Self.runner(noisy)).record(
                name: "probe", workflow: try Workflow(json: Self.workflow), into: Self.base)
        } throws: { error in
            String(describing: error).contains("not reproducible on this server")
                && String(describing: error).contains("output 5:0")
        }
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let lock = try await Self.record(on: standIn)
        let check = try #require(try await ReproChecker(runner: Self.runner(noisy)).check(lock: lock).workflows.first)
        #expect(check.verdict == .nondeterministic)
        #expect(check.rerunDifferences.map(\.name) == ["5:0"])
    }

    @Test("a lock field changed since recording is named; outputs equal still pass")
    func lockChanged() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        var lock = try await Self.record(on: standIn)
        lock.models[0].sha256 = String(repeating: "b", count: 64)
        lock.comfyui.commit = String(repeating: "2", count: 40)
        let check = try #require(try await ReproChecker(runner: Self.runner(standIn)).check(lock: lock).workflows.first)
        #expect(check.verdict == .equal)
        #expect(
            check.lockChanges.map(\.description) == ["comfyui changed", "models[checkpoints/x.safetensors] changed"])
    }

    @Test("seeds beyond 2^53 are refused at record time")
    func hugeSeed() async throws {
        var graph = Self.workflow.objectValue!
        graph["4"] = ["class_type": "ImageAddNoise", "inputs": ["image": ["1", 0], "seed": 1.8e19, "strength": 0.5]]
        #expect(throws: ReproError.self) { try ReproSeeds.seeds(in: .object(graph)) }
    }
}

/// The same through `comfy-cli` (a real subprocess).
@Suite("comfy-cli repro")
struct ReproCLITests {
    @Test("record writes the lock canonically; check exits 0 equal, 1 different (named), 2 for a missing name")
    func cli() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lockURL = dir.appending("lock.json")
        try LockFile.write(ReproTests.base, to: lockURL)
        let workflowURL = dir.appending("probe.json")
        try Data(CanonicalJSON.encode(ReproTests.workflow)).write(to: workflowURL)
        let url = standIn.baseURL.absoluteString

        let record = try Subprocess.comfyCLI(
            ["repro", "record", "--lock", lockURL.path, "--workflow", workflowURL.path, "--comfyui-url", url])
        #expect(record.status == 0, "\(record.standardError)")
        #expect(record.standardOutput.contains("recorded probe: 2 output(s), 1 seed(s)"))
        let bytes = Array(try Data(contentsOf: lockURL))
        let lock = try LockFile.decode(bytes)
        #expect(LockFile.encode(lock) == bytes)
        #expect(lock.workflows.map(\.name) == ["probe"])
        #expect(!FileManager.default.fileExists(atPath: lockURL.path + ".partial"))

        let check = try Subprocess.comfyCLI(["repro", "check", "--lock", lockURL.path, "--comfyui-url", url])
        #expect(check.status == 0, "\(check.standardOutput)\(check.standardError)")
        #expect(check.standardOutput.contains("probe: equal"))

        let changed = try ComfyUIStandIn.start(extraArguments: ["--standin-alter-node", "ImageInvert"])
        defer { changed.stop() }
        let drift = try Subprocess.comfyCLI(
            ["repro", "check", "--lock", lockURL.path, "--comfyui-url", changed.baseURL.absoluteString])
        #expect(drift.status == 1)
        #expect(drift.standardOutput.contains("probe: DIFFERENT — drift"))
        #expect(drift.standardOutput.contains("output 3:0"))
        #expect(drift.standardOutput.contains("image data differs"))

        let json = try Subprocess.comfyCLI(
            ["repro", "check", "--lock", lockURL.path, "--comfyui-url", changed.baseURL.absoluteString, "--json"])
        #expect(json.status == 1)
        let report = try JSONDecoder().decode(ReproCheckReport.self, from: Data(json.standardOutput.utf8))
        #expect(report.workflows.first?.verdict == .drift)

        let missing = try Subprocess.comfyCLI(
            ["repro", "check", "--lock", lockURL.path, "--name", "nope", "--comfyui-url", url])
        #expect(missing.status == 2)
        #expect(missing.standardError.contains("no workflow named nope"))
        // Neither --version nor --comfyui-url: a usage error. (Both together is not testable this way: the argument
        // parser treats a failing command line that contains --version as a request for the tool's version.)
        let neither = try Subprocess.comfyCLI(["repro", "check", "--lock", lockURL.path])
        #expect(neither.status == 2)
        #expect(neither.standardError.contains("exactly one of --version NAME or --comfyui-url URL"))
    }
}

/// Against a real ComfyUI checkout with its venv (torch on CPU): opt-in, never in CI.
@Suite("repro on real ComfyUI (COMFYUI_DIR)")
struct ReproRealComfyUITests {
    static let directory = ProcessInfo.processInfo.environment["COMFYUI_DIR"]

    @Test(
        "workflows/ record and check equal on a real ComfyUI",
        .enabled(if: directory != nil, "set COMFYUI_DIR to a ComfyUI checkout (and COMFYUI_PYTHON) to run"))
    func realComfyUI() async throws {
        let dir = try #require(Self.directory)
        let python = ProcessInfo.processInfo.environment["COMFYUI_PYTHON"] ?? dir + "/venv/bin/python"
        let supervisor = try await ComfyUISupervisor.launch(
            .init(python: python, mainScript: dir + "/main.py", workingDirectory: dir, extraArguments: ["--cpu"]))
        let runner = ReproWorkflowRunner(runner: WorkflowRunner(supervisor: supervisor))
        var lock = ReproTests.base
        for file in ["probe-invert", "seeded-noise"] {
            let url = TestPaths.repositoryRoot.appendingPathComponent("workflows/\(file).json")
            let workflow = try Workflow(bytes: Array(try Data(contentsOf: url)))
            (lock, _) = try await ReproRecorder(runner: runner).record(name: file, workflow: workflow, into: lock)
        }
        let report = try await ReproChecker(runner: runner).check(lock: lock)
        await supervisor.stop()
        #expect(report.passed, "\(report)")
    }
}
