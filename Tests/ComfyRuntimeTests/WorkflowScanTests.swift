import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// `comfy-cli workflow scan` against fixture repositories (a "ComfyUI" whose nodes.py registers core classes, a
/// custom-node pack in the lock, one only the UI workflow names by aux_id), the ComfyUI stand-in's `/object_info`,
/// and a loopback server for the model a UI workflow embeds by URL. Workflows are written by the tests.
@Suite("comfy-cli workflow scan")
struct WorkflowScanTests {
    static let coreNodes = """
        class CheckpointLoaderSimple: pass
        NODE_CLASS_MAPPINGS = {
            "CheckpointLoaderSimple": CheckpointLoaderSimple,
            'LoraLoader': LoraLoader,  # a comment: "NotAClass": x
            "SaveImage": SaveImage,
        }
        NODE_CLASS_MAPPINGS["KSampler"] = KSampler
        """

    struct Setup {
        let fixture: LockEditFixture
        let comfy: [String]
        let pack: [String]
        let extra: [String]
        let lockPath: String
        let sdTiny: (size: Int64, sha256: String)
    }

    static func setup() throws -> Setup {
        let fixture = try LockEditFixture()
        let comfy = try fixture.repo(
            "ComfyUI",
            commits: [
                [
                    "nodes.py": coreNodes, "main.py": "\n",
                    "comfy_extras/nodes_v3.py": "io.Schema(node_id=\"EmptyImageV3\", category='x')\n",
                    "comfy_api_nodes/nodes_api.py": "class ApiNode:\n    NODE_ID = \"ApiNodeV3\"\n",
                ]
            ])
        let pack = try fixture.repo(
            "fixture-nodes",
            commits: [
                [
                    "__init__.py": "from .nodes import NODE_CLASS_MAPPINGS\n",
                    "nodes.py": "NODE_CLASS_MAPPINGS = {}\nNODE_CLASS_MAPPINGS.update({\"FixtureSampler\": S})\n",
                ]
            ])
        let extra = try fixture.repo(
            "extra-nodes", commits: [["__init__.py": "NODE_CLASS_MAPPINGS = {'ExtraNode': E}\n"]])
        let bytes = [UInt8](repeating: 7, count: 4096)
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0]),
            customNodes: [
                CustomNode(name: "fixture-nodes", kind: .git, url: fixture.url("fixture-nodes"), commit: pack[0])
            ],
            models: [
                ModelEntry(
                    path: "checkpoints/sd-tiny.safetensors", size: 4096, sha256: SHA256.hash(bytes).hex,
                    sources: ["https://models.example/sd-tiny.safetensors"])
            ])
        let lockPath = try fixture.write(lock)
        return Setup(
            fixture: fixture, comfy: comfy, pack: pack, extra: extra, lockPath: lockPath,
            sdTiny: (4096, SHA256.hash(bytes).hex))
    }

    static func writeWorkflow(_ fixture: LockEditFixture, _ name: String, _ text: String) throws -> String {
        let url = fixture.temp.appending(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test(
        "API format with --lock: providers from the lock's sources, found and missing models, exit 1 when something is missing"
    )
    func apiFormatAgainstLock() throws {
        let setup = try Self.setup()
        defer { setup.fixture.close() }
        let workflow = try Self.writeWorkflow(
            setup.fixture, "api.json",
            #"""
            {"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"sd-tiny.safetensors"}},
             "2":{"class_type":"LoraLoader","inputs":{"lora_name":"style.safetensors","model":["1",0],"clip":["1",1],
                  "strength_model":1,"strength_clip":1}},
             "3":{"class_type":"FixtureSampler","inputs":{"model":["2",0]}},
             "4":{"class_type":"EmptyImageV3","inputs":{}},
             "7":{"class_type":"ApiNodeV3","inputs":{}},
             "5":{"class_type":"MysteryNode","inputs":{"x":["3",0]}},
             "6":{"class_type":"SaveImage","inputs":{"images":["5",0],"filename_prefix":"x"}}}
            """#)
        let before = try setup.fixture.bytes(setup.lockPath)
        var result = try setup.fixture.cli(["workflow", "scan", workflow, "--lock", setup.lockPath, "--json"])
        #expect(result.status == 1, "\(result.standardError)")
        let report = try Self.json(result.standardOutput)
        #expect(report["format"] as? String == "api")
        let classes = try #require(report["classes"] as? [[String: Any]])
        let byClass = Dictionary(uniqueKeysWithValues: classes.map { ($0["classType"] as! String, $0) })
        #expect(byClass["CheckpointLoaderSimple"]?["provider"] as? String == "core")
        #expect(byClass["EmptyImageV3"]?["provider"] as? String == "core")  // a V3 schema's node_id
        #expect(byClass["ApiNodeV3"]?["provider"] as? String == "core")  // a V3 NODE_ID class attribute
        #expect(byClass["FixtureSampler"]?["provider"] as? String == "lockNode")
        #expect(byClass["FixtureSampler"]?["node"] as? String == "fixture-nodes")
        #expect(byClass["MysteryNode"]?["status"] as? String == "missing")
        #expect(byClass["NotAClass"] == nil)
        let models = try #require(report["models"] as? [[String: Any]])
        let byValue = Dictionary(uniqueKeysWithValues: models.map { ($0["value"] as! String, $0) })
        #expect(byValue["sd-tiny.safetensors"]?["status"] as? String == "found")
        #expect(byValue["sd-tiny.safetensors"]?["lockPath"] as? String == "checkpoints/sd-tiny.safetensors")
        #expect(byValue["style.safetensors"]?["status"] as? String == "missing")
        #expect(byValue["style.safetensors"]?["folder"] as? String == "loras")
        #expect(report["missingNodes"] as? [String] == ["MysteryNode"])
        #expect(report["missingModels"] as? [String] == ["style.safetensors"])

        // Human form names the same; --write lists what it cannot resolve and writes nothing.
        result = try setup.fixture.cli(["workflow", "scan", workflow, "--lock", setup.lockPath, "--write", "--yes"])
        #expect(result.status == 1, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("FixtureSampler: custom node fixture-nodes — ok"), "\(result.standardOutput)"
        )
        #expect(
            result.standardOutput.contains("cannot resolve: node class \"MysteryNode\""), "\(result.standardOutput)")
        #expect(
            result.standardOutput.contains("cannot resolve: model \"style.safetensors\""), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("no changes"))
        #expect(try setup.fixture.bytes(setup.lockPath) == before)
    }

    @Test(
        "with --comfyui-url the stand-in's /object_info python_module decides core vs custom node, matched to lock nodes"
    )
    func objectInfoProviders() throws {
        let setup = try Self.setup()
        defer { setup.fixture.close() }
        let server = try ComfyUIStandIn.start()
        defer { server.stop() }
        var lock = try LockFile.read(from: URL(fileURLWithPath: setup.lockPath))
        lock.customNodes.append(
            CustomNode(
                name: "comfyui-standin-nodes", kind: .git, url: setup.fixture.url("fixture-nodes"),
                commit: setup.pack[0], enabled: false))
        let lockPath = try setup.fixture.write(lock, "standin.lock.json")
        let workflow = try Self.writeWorkflow(
            setup.fixture, "standin.json",
            #"""
            {"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"sd-tiny.safetensors"}},
             "2":{"class_type":"StandInNoise","inputs":{"seed":1,"width":8,"height":8}},
             "3":{"class_type":"VHS_VideoCombine","inputs":{"images":["2",0],"frame_rate":8}},
             "4":{"class_type":"NotOnServer","inputs":{}}}
            """#)
        let result = try setup.fixture.cli([
            "workflow", "scan", workflow, "--lock", lockPath, "--comfyui-url", server.baseURL.absoluteString, "--json",
        ])
        #expect(result.status == 1, "\(result.standardError)")
        let report = try Self.json(result.standardOutput)
        let classes = try #require(report["classes"] as? [[String: Any]])
        let byClass = Dictionary(uniqueKeysWithValues: classes.map { ($0["classType"] as! String, $0) })
        #expect(byClass["CheckpointLoaderSimple"]?["provider"] as? String == "core")
        #expect(byClass["CheckpointLoaderSimple"]?["module"] as? String == "nodes")
        #expect(byClass["StandInNoise"]?["provider"] as? String == "lockNode")
        #expect(byClass["StandInNoise"]?["status"] as? String == "disabled")  // in the lock, but disabled
        #expect(byClass["VHS_VideoCombine"]?["provider"] as? String == "customNode")
        #expect(byClass["VHS_VideoCombine"]?["node"] as? String == "ComfyUI-VideoHelperSuite")
        #expect(byClass["VHS_VideoCombine"]?["status"] as? String == "missing")
        #expect(byClass["NotOnServer"]?["provider"] as? String == "unknown")
        #expect(
            Set(report["missingNodes"] as? [String] ?? [])
                == ["StandInNoise", "VHS_VideoCombine", "NotOnServer"])
    }

    @Test(
        "UI format --write: adds the node the workflow names by aux_id and the model it embeds by URL, after the diff")
    func uiFormatWrite() throws {
        let setup = try Self.setup()
        defer { setup.fixture.close() }
        let served = setup.fixture.temp.appending("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        let weights = [UInt8]((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try Data(weights).write(to: served.appendingPathComponent("new-model.safetensors"))
        let http = try LoopbackHTTPServer(root: served)
        defer { http.stop() }
        let modelURL = http.url("/new-model.safetensors").absoluteString
        // A pack the workflow names by registry id at a commit: the registry says where its repository is.
        let nightly = try setup.fixture.repo(
            "nightly-nodes", commits: [["__init__.py": "NODE_CLASS_MAPPINGS = {'NightlyNode': N}\n"]])
        let registryDir = served.appendingPathComponent("registry/nodes")
        try FileManager.default.createDirectory(at: registryDir, withIntermediateDirectories: true)
        try Data(#"{"id":"nightly-pack","repository":"https://github.com/fixture/nightly-nodes"}"#.utf8)
            .write(to: registryDir.appendingPathComponent("nightly-pack"))
        let registry = ["--registry-url", http.url("/registry").absoluteString]
        let workflow = try Self.writeWorkflow(
            setup.fixture, "ui.json",
            """
            {"last_node_id":9,"last_link_id":2,"version":0.4,"links":[[1,1,0,2,0,"MODEL"]],
             "nodes":[
              {"id":1,"type":"CheckpointLoaderSimple","mode":0,"widgets_values":["new-model.safetensors"],
               "properties":{"cnr_id":"comfy-core","ver":"0.3.64","models":[{"name":"new-model.safetensors",
                 "url":"\(modelURL)","directory":"checkpoints"}]}},
              {"id":2,"type":"ExtraNode","mode":0,"widgets_values":["fast"],
               "properties":{"aux_id":"fixture/extra-nodes","ver":"\(setup.extra[0])"}},
              {"id":3,"type":"FixtureSampler","mode":0,"widgets_values":[]},
              {"id":6,"type":"NightlyNode","properties":{"cnr_id":"nightly-pack","ver":"\(nightly[0])"}},
              {"id":4,"type":"LoraLoader","mode":4,"widgets_values":["bypassed.safetensors",1,1]},
              {"id":5,"type":"Note","widgets_values":["uses other.safetensors"]}
             ]}
            """)
        let before = try setup.fixture.bytes(setup.lockPath)
        // Preview (no --yes): the node and model are shown as additions; the lock is untouched.
        var result = try setup.fixture.cli(
            ["workflow", "scan", workflow, "--lock", setup.lockPath, "--write"] + registry)
        #expect(result.status == 1, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("+ customNodes extra-nodes: kind git, commit \(setup.extra[0])"),
            "\(result.standardOutput)")
        #expect(
            result.standardOutput.contains("+ models checkpoints/new-model.safetensors"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("bypassed.safetensors") && result.standardOutput.contains("inactive"))
        #expect(try setup.fixture.bytes(setup.lockPath) == before)

        result = try setup.fixture.cli(
            ["workflow", "scan", workflow, "--lock", setup.lockPath, "--write", "--yes", "--json"] + registry)
        #expect(result.status == 0, "\(result.standardError)")
        let report = try Self.json(result.standardOutput)
        #expect((report["edit"] as? [String: Any])?["written"] as? Bool == true)
        #expect(report["missingNodes"] as? [String] == [])
        #expect(report["missingModels"] as? [String] == [])
        let written = try LockFile.read(from: URL(fileURLWithPath: setup.lockPath))
        let node = try #require(written.customNodes.first { $0.name == "extra-nodes" })
        #expect(node.url == "https://github.com/fixture/extra-nodes" && node.commit == setup.extra[0])
        let pack = try #require(written.customNodes.first { $0.name == "nightly-pack" })
        #expect(pack.url == "https://github.com/fixture/nightly-nodes" && pack.commit == nightly[0])
        let model = try #require(written.models.first { $0.path == "checkpoints/new-model.safetensors" })
        #expect(model.sha256 == SHA256.hash(weights).hex && model.size == Int64(weights.count))
        #expect(model.sources == [modelURL])
        #expect(LockValidator.errors(written, level: .safe).isEmpty)
        #expect(try setup.fixture.bytes(setup.lockPath) == Data(LockFile.encode(written)))

        // Scanning again: everything is there.
        result = try setup.fixture.cli(["workflow", "scan", workflow, "--lock", setup.lockPath])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("the lock has everything the workflow uses"), "\(result.standardOutput)")
    }

    @Test("scan --write: a model download that fails leaves the lock untouched (exit 2)")
    func writeFailureWritesNothing() throws {
        let setup = try Self.setup()
        defer { setup.fixture.close() }
        let served = setup.fixture.temp.appending("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        let http = try LoopbackHTTPServer(root: served)
        defer { http.stop() }
        let workflow = try Self.writeWorkflow(
            setup.fixture, "ui-missing.json",
            """
            {"nodes":[
              {"id":1,"type":"ExtraNode","properties":{"aux_id":"fixture/extra-nodes","ver":"\(setup.extra[0])"}},
              {"id":2,"type":"VAELoader","widgets_values":["gone.safetensors"],"properties":{"models":[
                {"name":"gone.safetensors","url":"\(http.url("/gone.safetensors").absoluteString)","directory":"vae"}]}}],
             "links":[]}
            """)
        let before = try setup.fixture.bytes(setup.lockPath)
        let result = try setup.fixture.cli(["workflow", "scan", workflow, "--lock", setup.lockPath, "--write", "--yes"])
        #expect(result.status == 2, "\(result.standardError)")
        #expect(
            result.standardError.contains("404") || result.standardError.contains("gone.safetensors"),
            "\(result.standardError)")
        #expect(try setup.fixture.bytes(setup.lockPath) == before)
    }

    @Test("bad workflows are named errors (exit 2): not JSON, too large, no nodes; --write needs --lock")
    func badInput() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let notJSON = try Self.writeWorkflow(fixture, "bad.json", "{nope")
        var result = try fixture.cli(["workflow", "scan", notJSON])
        #expect(result.status == 2)
        #expect(result.standardError.contains("not valid JSON"), "\(result.standardError)")
        let big = try Self.writeWorkflow(fixture, "big.json", #"{"1":{"class_type":"X"}}"#)
        result = try fixture.cli(["workflow", "scan", big, "--max-input-size", "5"])
        #expect(result.status == 2)
        result = try fixture.cli(["workflow", "scan", try Self.writeWorkflow(fixture, "e.json", "{}")])
        #expect(result.status == 2)
        #expect(result.standardError.contains("no nodes"), "\(result.standardError)")
        // A hostile class name and model value are printed escaped: no raw escape sequence or forged line.
        let hostile = try Self.writeWorkflow(
            fixture, "hostile.json",
            #"{"1":{"class_type":"Evil\u001b[2J\nforged: ok","inputs":{"ckpt_name":"a\u001b]0;x\u0007.safetensors"}}}"#)
        result = try fixture.cli(["workflow", "scan", hostile])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardOutput.contains("\u{1B}") && !result.standardOutput.contains("\u{07}"))
        #expect(result.standardOutput.contains("Evil\\u{1B}[2J\\nforged: ok"), "\(result.standardOutput)")
        result = try fixture.cli(["workflow", "scan", big, "--write"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("--write needs --lock"), "\(result.standardError)")
    }
}
