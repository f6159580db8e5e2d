import ComfyLock
import Foundation
import Testing

@Suite("import and export of peer formats")
struct InteropTests {
    func importFixture(_ name: String, _ format: ImportFormat) throws -> ImportResult {
        try LockImporter.importLock(
            try Fixtures.bytes(Fixtures.imports.appendingPathComponent(name)), format: format, tag: "t",
            createdBy: "comfylock test", sourceName: name)
    }

    @Test("a Manager snapshot imports every node kind and pip pin, and reports what it lacks")
    func managerJSON() throws {
        let result = try importFixture("manager-snapshot.json", .manager)
        let lock = result.lock
        #expect(
            lock.comfyui
                == ComfyUIPin(url: LockImporter.defaultComfyUIURL, commit: "f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33"))
        #expect(
            lock.customNodes.map(\.name) == [
                "ComfyUI-Impact-Pack", "ComfyUI_IPAdapter_plus", "comfyui-kjnodes", "comfyui_controlnet_aux",
                "rgthree-comfy",
                "websocket_image_save.py",
            ])
        let ipadapter = try #require(lock.customNodes.first { $0.name == "ComfyUI_IPAdapter_plus" })
        #expect(
            ipadapter.kind == .git && !ipadapter.enabled
                && ipadapter.commit == "b188a6cb39b512a9c6da7235b880af42c78ccd0d")
        let aux = try #require(lock.customNodes.first { $0.name == "comfyui_controlnet_aux" })
        #expect(aux.url == "https://github.com/Fannovel16/comfyui_controlnet_aux.git")
        let kj = try #require(lock.customNodes.first { $0.name == "comfyui-kjnodes" })
        #expect(kj.kind == .registry && kj.registryId == "comfyui-kjnodes" && kj.version == "1.1.7")
        let file = try #require(lock.customNodes.last)
        #expect(file.kind == .file && file.sha256 == nil)
        let python = try #require(lock.python)
        #expect(python.packages.map(\.name) == ["aiohttp", "pillow", "pyyaml", "segment-anything"])
        #expect(python.packages.allSatisfy { $0.artifacts.isEmpty })  // never invented
        #expect(
            python.packages[3].vcs
                == VCSPin(
                    url: "https://github.com/facebookresearch/segment-anything",
                    commit: "dca509fe793f601edb92606367a655c15ac00fdf"))
        // Reported: file node hash, python version/platform, three unhashed packages, the VCS package's version.
        #expect(
            result.report.missing.map(\.path) == [
                "$.customNodes[5].sha256", "$.python.version", "$.python.platform", "$.python.packages[0].artifacts",
                "$.python.packages[1].artifacts", "$.python.packages[2].artifacts", "$.python.packages[3].version",
            ])
        #expect(result.report.assumed.map(\.path) == ["$.comfyui.url"])
        #expect(result.report.skipped.count == 1)
        // Every missing item is also a validation error: an import is not a finished lock.
        let errors = Set(LockValidator.validate(lock).filter { $0.severity == .error }.map(\.path))
        for item in result.report.missing { #expect(errors.contains(item.path), "\(item)") }
    }

    @Test("the YAML form of the snapshot imports to the identical lock")
    func managerYAML() throws {
        let json = try importFixture("manager-snapshot.json", .manager)
        let yaml = try importFixture("manager-snapshot.yaml", .manager)
        #expect(LockFile.encode(yaml.lock) == LockFile.encode(json.lock))
        #expect(yaml.report == json.report)
    }

    @Test("comfy-pack models keep hashes, sizes and sources; Hugging Face refs become pinned resolve URLs")
    func comfyPack() throws {
        let result = try importFixture("comfy-pack-snapshot.json", .comfyPack)
        let lock = result.lock
        #expect(lock.python?.version == "3.11.2")
        #expect(
            lock.models.map(\.path) == [
                "checkpoints/sd_xl_base_1.0.safetensors", "loras/add-detail-xl.safetensors",
                "vae/local-finetune.safetensors",
            ])
        let sdxl = lock.models[0]
        #expect(sdxl.size == 6_938_078_334)
        #expect(sdxl.sha256 == "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b")
        #expect(
            sdxl.huggingface
                == HuggingFaceRef(
                    repo: "stabilityai/stable-diffusion-xl-base-1.0",
                    revision: "462165984030d82259a11f4367a4eed129e94a7b", file: "sd_xl_base_1.0.safetensors"))
        #expect(
            sdxl.sources == [
                "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/462165984030d82259a11f4367a4eed129e94a7b/sd_xl_base_1.0.safetensors"
            ])
        #expect(lock.models[1].sources == ["https://civitai.com/api/download/models/135867"])
        #expect(lock.models[2].sha256 == "" && lock.models[2].sources.isEmpty)
        #expect(result.report.missing.contains { $0.path == "$.models[2].sha256" })
        #expect(!result.report.missing.contains { $0.path.hasPrefix("$.models[0]") })
    }

    @Test("a comfy-cli definition maps nodes, models, freeze and environment")
    func comfyCLI() throws {
        let result = try importFixture("comfy-cli-definition.json", .comfyCLI)
        let lock = result.lock
        #expect(lock.comfyui.commit == "" && lock.comfyui.ref == "v0.3.64")
        #expect(lock.customNodes.map(\.name) == ["ComfyUI-Impact-Pack", "comfyui-kjnodes"])
        #expect(
            lock.models.map(\.path) == ["checkpoints/sd_xl_base_1.0.safetensors", "ultralytics/bbox/face_yolov8m.pt"])
        #expect(lock.models[1].size == 52_026_019)
        #expect(lock.python?.version == "3.11.2" && lock.python?.platform == "linux_x86_64")
        #expect(lock.python?.packages.map(\.name) == ["aiohttp", "pillow", "pyyaml"])
        #expect(result.report.missing.first?.path == "$.comfyui.commit")
        #expect(result.report.skipped.contains { $0.message.contains("my-private-node") })
        // The comfy-build/1 envelope is accepted too.
        let definition = try JSONParser.parse(
            try Fixtures.bytes(Fixtures.imports.appendingPathComponent("comfy-cli-definition.json")))
        let envelope: JSONValue = ["schema": "comfy-build/1", "id": nil, "name": "x", "definition": definition]
        let wrapped = try LockImporter.importLock(
            CanonicalJSON.encode(envelope), format: .comfyCLI, tag: "t", createdBy: "comfylock test")
        #expect(wrapped.lock == lock)
    }

    @Test("Manager snapshot → lock → Manager snapshot round-trips")
    func managerRoundTrip() throws {
        let source = try JSONParser.parse(
            try Fixtures.bytes(Fixtures.imports.appendingPathComponent("manager-snapshot.json")))
        let imported = try importFixture("manager-snapshot.json", .manager)
        let exported = LockExporter.export(imported.lock, to: .manager)
        var expected = try #require(source.objectValue)
        var pips = try #require(expected["pips"]?.objectValue)
        // Normalization is the one intended change: PEP 503 names; the editable install has no lock form.
        pips = [
            "pyyaml==6.0.2": "", "pillow==11.0.0": "", "aiohttp==3.11.11": "",
            // VCS pins the way Manager writes and restores them: {name: "git+URL@commit"}.
            "segment-anything":
                "git+https://github.com/facebookresearch/segment-anything@dca509fe793f601edb92606367a655c15ac00fdf",
        ]
        expected["pips"] = .object(pips)
        #expect(try JSONParser.parse(exported.bytes) == .object(expected))
        // And importing the export gives the same lock again.
        let again = try LockImporter.importLock(exported.bytes, format: .manager, tag: "t", createdBy: "comfylock test")
        #expect(again.lock == imported.lock)
    }

    @Test("lock → Manager snapshot → lock keeps nodes and versions, and says what Manager cannot carry")
    func lockRoundTrip() throws {
        let lock = Fixtures.fullLock()
        let exported = LockExporter.export(lock, to: .manager)
        #expect(exported.dropped.contains { $0.path == "$.models" })
        #expect(exported.dropped.contains { $0.path == "$.workflows" })
        #expect(exported.dropped.contains { $0.path.hasSuffix(".artifacts") })
        let back = try LockImporter.importLock(
            exported.bytes, format: .manager, tag: lock.tag, createdBy: lock.createdBy)
        #expect(back.lock.comfyui.commit == lock.comfyui.commit)
        // Registry nodes come back under their registry id (Manager's directory name), which the export reported.
        #expect(back.lock.customNodes.map(\.name) == ["ComfyUI-Impact-Pack", "helper.py", "was-node-suite-comfyui"])
        #expect(exported.dropped.contains { $0.path == "$.customNodes[2].name" })
        #expect(back.lock.customNodes.map(\.enabled) == [true, false, true])
        #expect(back.lock.python?.packages.map(\.name) == lock.sorted().python?.packages.map(\.name))
        // A VCS requirement carries no version in Manager's pip list: it comes back empty and is reported missing.
        #expect(back.lock.python?.packages.map(\.version) == ["", "2.5.1"])
        #expect(back.report.missing.contains { $0.path == "$.python.packages[0].version" })
    }

    @Test("malformed import sources are clear errors")
    func malformed() {
        #expect(throws: LockError.self) {
            try LockImporter.importLock(Array(#"{"a":1}"#.utf8), format: .manager, tag: "t", createdBy: "c")
        }
        #expect(throws: LockError.self) {
            try LockImporter.importLock(
                Array(#"{"schema":"distribution-definition/9"}"#.utf8), format: .comfyCLI, tag: "t", createdBy: "c")
        }
        #expect(throws: LockError.self) {
            try LockImporter.importLock(Array("comfyui: [\n".utf8), format: .manager, tag: "t", createdBy: "c")
        }
        #expect {
            try LockImporter.importLock(
                Array(#"{"comfyui":"x","git_custom_nodes":{"u":{"hash":"a","hash":"b"}}}"#.utf8), format: .manager,
                tag: "t", createdBy: "c")
        } throws: { error in
            (error as? LockError)?.parseError?.rule == "duplicate-key"
        }
    }

    @Test("credentials in source URLs are stripped, reported without the secret, and never reach the lock")
    func credentialsStripped() throws {
        let secret = "SECRET123"
        let pack =
            #"{"comfyui":"f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33","git_custom_nodes":{},"models":[{"filename":"loras/x.safetensors","size":5,"sha256":"\#(Fixtures.shaA)","source":{"download_url":"https://civitai.com/api/download/models/1?type=Model&token=\#(secret)"}}]}"#
        let result = try LockImporter.importLock(Array(pack.utf8), format: .comfyPack, tag: "t", createdBy: "c")
        #expect(result.lock.models[0].sources == ["https://civitai.com/api/download/models/1?type=Model"])
        #expect(!LockFile.encode(result.lock).text.contains(secret))
        #expect(!"\(result.report)".contains(secret))
        #expect(result.report.skipped.contains { $0.message.contains("credentials removed") })

        let manager = """
            {"comfyui": "f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33",
             "git_custom_nodes": {"https://x-access-token:\(secret)@github.com/org/private-node.git": {"hash": "\(Fixtures.commitA)", "disabled": false}},
             "pips": {"tool @ git+https://oauth2:\(secret)@gitlab.com/org/tool@\(Fixtures.commitB)": ""}}
            """
        let imported = try LockImporter.importLock(Array(manager.utf8), format: .manager, tag: "t", createdBy: "c")
        #expect(imported.lock.customNodes[0].url == "https://github.com/org/private-node.git")
        #expect(imported.lock.customNodes[0].name == "private-node")
        #expect(
            imported.lock.python?.packages[0].vcs
                == VCSPin(url: "https://gitlab.com/org/tool", commit: Fixtures.commitB))
        #expect(!LockFile.encode(imported.lock).text.contains(secret))
        #expect(!"\(imported.report)".contains(secret))
        #expect(imported.report.skipped.count == 2)
        #expect(LockValidator.validate(imported.lock).allSatisfy { $0.rule != "url-credentials" })
    }

    @Test("an unpinned VCS requirement is reported missing at its path in the lock")
    func unpinnedVCS() throws {
        let snapshot =
            #"{"comfyui":"f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33","pips":{"git+https://github.com/o/tool@main#egg=Tool":""}}"#
        let result = try LockImporter.importLock(Array(snapshot.utf8), format: .manager, tag: "t", createdBy: "c")
        #expect(result.lock.python?.packages[0].vcs == VCSPin(url: "https://github.com/o/tool", commit: ""))
        #expect(result.report.missing.contains { $0.path == "$.python.packages[0].vcs.commit" })
        #expect(LockValidator.validate(result.lock).contains { $0.rule == "commit-missing" })
    }

    @Test("a hostile Manager snapshot is refused by the importer itself (issue 9: never copied into a lock)")
    func hostileSnapshot() throws {
        let snapshot = """
            {"comfyui": "f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33",
             "git_custom_nodes": {"https://github.com/evil/..": {"hash": "\(Fixtures.commitA)", "disabled": false},
                                  "ssh://git@github.com/a/b": {"hash": "nothex", "disabled": false}},
             "file_custom_nodes": [{"filename": "../../../.bashrc", "disabled": false}]}
            """
        do {
            _ = try LockImporter.importLock(Array(snapshot.utf8), format: .manager, tag: "t", createdBy: "c")
            Issue.record("imported a hostile snapshot")
        } catch {
            #expect(error.isInvalidLock)
            #expect(error.diagnostics.contains { $0.rule == "node-name" && $0.path.hasPrefix("$.customNodes[") })
            #expect(error.diagnostics.contains { $0.rule == "commit" })
        }
    }
}
