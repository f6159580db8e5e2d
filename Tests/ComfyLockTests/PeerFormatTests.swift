import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

/// Imports of documents made the way each peer's own code makes them (issue 10, item 11). Each input is written
/// by Python with the same library calls and the same data shapes as the peer function named in the test
/// (ComfyUI-Manager `glob/manager_core.py` `get_current_snapshot` + `save_snapshot_with_postfix`; comfy-pack 0.3
/// `nodes/api.py` `_write_snapshot` / `_get_custom_nodes` / `_write_requirements` / `pack_workspace`; comfy-pack 0.4
/// `model_helper._lookup_huggingface_model`; comfy-cli `command/distribution.py` `scan_cmd` + `output/renderer.py`
/// `_envelope`, and `workspace_manager.save_yaml`). No peer code is copied: the snippets only reproduce the shapes.
@Suite("peer formats as the peers write them")
struct PeerFormatTests {
    static let comfyUI = "637221995f7424a561bd825de3e61ea117dfe1e3"
    static let nodeCommit = "aac13aa7ce35b07d43633c3bbe654a38c00d74f5"
    static let samCommit = "dca509fe793f601edb92606367a655c15ac00fdf"

    /// Runs `script` with the test venv's Python (PyYAML comes from scripts/testsupport/requirements.txt) in `dir`.
    static func python(_ script: String, in dir: URL) throws {
        let result = try Subprocess.run(
            TestPaths.python.path, ["-I", "-c", script], environment: ["PIP_CONFIG_FILE": "/dev/null"],
            currentDirectory: dir)
        guard result.status == 0 else { throw FixtureError(message: "python failed: \(result.standardError)") }
    }

    /// Manager's snapshot dict as `get_current_snapshot` builds it: a scp-style origin (a node cloned over ssh), a
    /// packed ref whose hash `git_utils.get_commit_hash` reports as "unknown", a detached HEAD read with its newline,
    /// and `get_installed_pip_packages`' split of `pip freeze` (`name @ URL` → {name: URL}).
    static let managerSnapshot = """
        snapshot = {
            'comfyui': '\(comfyUI)',
            'git_custom_nodes': {
                'https://github.com/pythongosssss/ComfyUI-Custom-Scripts': {'hash': '\(nodeCommit)\\n', 'disabled': False},
                'git@github.com:Kosinkadink/ComfyUI-VideoHelperSuite.git': {'hash': '\(nodeCommit)', 'disabled': True},
                'https://github.com/ltdrdata/ComfyUI-Impact-Pack': {'hash': 'unknown', 'disabled': False},
            },
            'cnr_custom_nodes': {'comfyui-kjnodes': '1.1.0'},
            'file_custom_nodes': [{'filename': 'my_node.py', 'disabled': False}],
            'pips': {'numpy==2.1.0': '', 'segment-anything': 'git+https://github.com/facebookresearch/segment-anything@\(samCommit)', 'local-pkg': 'file:///tmp/local_pkg-1.0-py3-none-any.whl'},
        }
        """

    @Test(
        "Manager YAML snapshot ({custom_nodes: …}, PyYAML) imports: scp remote normalized, 'unknown' missing, VCS pip kept"
    )
    func managerYAML() throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-peer")
        defer { temp.remove() }
        try Self.python(
            Self.managerSnapshot + """

                import yaml
                with open('snapshot.yaml', 'w') as yaml_file:
                    snapshot = {'custom_nodes': snapshot}
                    yaml.dump(snapshot, yaml_file, allow_unicode=True)
                """, in: temp.url)
        let result = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("snapshot.yaml")), format: .manager, tag: "t", createdBy: "test")
        try Self.checkManager(result)
    }

    @Test("Manager JSON snapshot (json.dump indent=4) imports the same way")
    func managerJSON() throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-peer")
        defer { temp.remove() }
        try Self.python(
            Self.managerSnapshot + """

                import json
                with open('snapshot.json', 'w') as json_file:
                    json.dump(snapshot, json_file, indent=4)
                """, in: temp.url)
        let result = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("snapshot.json")), format: .manager, tag: "t", createdBy: "test")
        try Self.checkManager(result)
    }

    static func checkManager(_ result: ImportResult) throws {
        let lock = result.lock
        #expect(lock.comfyui.commit == comfyUI)
        let byName = Dictionary(lock.customNodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["ComfyUI-Custom-Scripts"]?.commit == nodeCommit)
        let video = try #require(byName["ComfyUI-VideoHelperSuite"])
        #expect(video.url == "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite.git")
        #expect(video.enabled == false && video.commit == nodeCommit)
        #expect(byName["ComfyUI-Impact-Pack"]?.commit == nil)
        #expect(result.report.missing.contains { $0.message.contains("ComfyUI-Impact-Pack") })
        #expect(result.report.skipped.contains { $0.message.contains("unknown") })
        #expect(result.report.assumed.contains { $0.message.contains("scp-style") })
        let packages = Dictionary((lock.python?.packages ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(packages["numpy"]?.version == "2.1.0")
        let sam = try #require(packages["segment-anything"])
        #expect(sam.vcs == VCSPin(url: "https://github.com/facebookresearch/segment-anything", commit: samCommit))
        #expect(packages["local-pkg"] == nil)
        #expect(result.report.skipped.contains { $0.message.contains("local-pkg") })
        // No node URL is left in scp form (the validator would refuse it).
        #expect(!LockValidator.validate(lock).contains { $0.rule == "url" })
    }

    @Test("Manager export writes VCS pins as {name: 'git+URL@commit'}, the way Manager restores them")
    func managerExport() throws {
        var lock = Fixtures.minimalLock()
        lock.python = PythonPins(
            version: "3.11", platform: "linux_x86_64",
            packages: [
                PythonPackage(name: "numpy", version: "2.1.0"),
                PythonPackage(
                    name: "segment-anything", version: "1.0",
                    vcs: VCSPin(url: "https://github.com/facebookresearch/segment-anything", commit: Self.samCommit)),
            ])
        let exported = LockExporter.export(lock, to: .manager)
        let pips = try #require(try JSONParser.parse(exported.bytes).objectValue?["pips"]?.objectValue)
        #expect(pips["numpy==2.1.0"] == .string(""))
        #expect(
            pips["segment-anything"]
                == .string("git+https://github.com/facebookresearch/segment-anything@\(Self.samCommit)"))
        // restore_pip_snapshot installs the value of a non-empty entry: that must be a pip-installable reference.
        #expect(pips.keys.allSatisfy { !$0.contains(" @ ") })
        let again = try LockImporter.importLock(exported.bytes, format: .manager, tag: "t", createdBy: "test")
        #expect(
            again.lock.python?.packages.first { $0.name == "segment-anything" }?.vcs == lock.python?.packages[1].vcs)
    }

    /// comfy-pack 0.3: `_write_snapshot` (json.dumps indent=2) with `_get_custom_nodes` entries, and
    /// `_write_requirements` lines from `_get_requirement_string`; `pack_workspace` zips them.
    static let cpack03 = """
        import json, zipfile
        data = {
            'python': '3.11',
            'comfyui': '\(comfyUI)',
            'models': [{'filename': 'models/checkpoints/sd15.safetensors', 'size': 1234, 'atime': 1.5, 'ctime': 1.5,
                        'disabled': False, 'sha256': '\(String(repeating: "b", count: 64))',
                        'source': {'download_url': 'https://example.com/sd15.safetensors', 'source': 'url'}}],
            'custom_nodes': [
                {'url': 'https://github.com/pythongosssss/ComfyUI-Custom-Scripts.git', 'commit_hash': '\(nodeCommit)',
                 'disabled': False, 'path': 'ComfyUI-Custom-Scripts'},
                {'url': 'git@github.com:Kosinkadink/ComfyUI-VideoHelperSuite.git', 'commit_hash': '\(nodeCommit)',
                 'disabled': True, 'path': 'ComfyUI-VideoHelperSuite.disabled'},
            ],
        }
        requirements = ['numpy==2.1.0', 'opencv-python==4.10.0.84',
                        'segment_anything @ git+https://github.com/facebookresearch/segment-anything@\(samCommit)']
        with open('snapshot.json', 'w') as f:
            f.write(json.dumps(data, indent=2))
        with open('requirements.txt', 'w') as f:
            for line in requirements:
                f.write(line + '\\n')
        with zipfile.ZipFile('pack.cpack.zip', 'w') as zf:
            zf.writestr('snapshot.json', json.dumps(data, indent=2))
            zf.writestr('requirements.txt', ''.join(line + '\\n' for line in requirements))
            zf.writestr('workflow_api.json', '{}')
        """

    @Test("comfy-pack < 0.4: custom_nodes [{url, commit_hash, disabled}] + requirements.txt beside, and the .cpack.zip")
    func comfyPackBefore04() async throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-peer")
        defer { temp.remove() }
        try Self.python(Self.cpack03, in: temp.url)
        let result = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("snapshot.json")), format: .comfyPack, tag: "t", createdBy: "test",
            requirements: Fixtures.bytes(temp.appending("requirements.txt")))
        let lock = result.lock
        #expect(lock.comfyui.commit == Self.comfyUI)
        #expect(lock.customNodes.map(\.name) == ["ComfyUI-Custom-Scripts", "ComfyUI-VideoHelperSuite"])
        #expect(lock.customNodes.map(\.enabled) == [true, false])
        #expect(lock.customNodes[1].url == "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite.git")
        #expect(lock.customNodes.allSatisfy { $0.commit == Self.nodeCommit })
        #expect(lock.python?.version == "3.11")
        #expect(lock.python?.packages.map(\.name) == ["numpy", "opencv-python", "segment-anything"])
        #expect(lock.python?.packages.last?.vcs?.commit == Self.samCommit)
        #expect(lock.models.map(\.path) == ["checkpoints/sd15.safetensors"])
        #expect(lock.models.first?.sources == ["https://example.com/sd15.safetensors"])

        // The CLI reads the .cpack.zip directly, and a snapshot.json with its requirements.txt beside it.
        for input in ["pack.cpack.zip", "snapshot.json"] {
            let capture = CapturingConsole()
            let out = temp.appending("\(input).lock.json").path
            let code = await Console.$current.withValue(capture.console) {
                await CLI.run(["lock", "import", "--from", "comfy-pack", temp.appending(input).path, "-o", out])
            }
            #expect(code == 0, "\(input): \(capture.standardError)")
            let imported = try LockFile.read(from: URL(fileURLWithPath: out))
            #expect(imported.customNodes == lock.customNodes, "\(input)")
            #expect(imported.python?.packages == lock.python?.packages, "\(input)")
        }
    }

    @Test("comfy-pack Hugging Face sources (repo, commit, path) become percent-encoded resolve URLs")
    func huggingFacePaths() throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-peer")
        defer { temp.remove() }
        // _lookup_huggingface_model: download_url and url are the bare path, repo/commit from the blob page.
        try Self.python(
            """
            import json
            path = 'split files/diffusion models/flux1 dev #2 (fp8).safetensors'
            snapshot = {'comfyui': '\(Self.comfyUI)', 'git_custom_nodes': {}, 'cnr_custom_nodes': {},
                        'file_custom_nodes': [], 'pips': {}, 'python': '3.11.9',
                        'models': [{'filename': 'models/diffusion_models/flux.safetensors', 'size': 10,
                                    'sha256': '\(String(repeating: "c", count: 64))', 'disabled': False,
                                    'source': {'download_url': path, 'url': path, 'repo': 'Comfy-Org/flux1-dev',
                                               'commit': '0123456789abcdef', 'path': path, 'source': 'huggingface'}}]}
            with open('snapshot.json', 'w') as f:
                f.write(json.dumps(snapshot, indent=2))
            """, in: temp.url)
        let result = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("snapshot.json")), format: .comfyPack, tag: "t", createdBy: "test")
        let model = try #require(result.lock.models.first)
        #expect(
            model.sources == [
                "https://huggingface.co/Comfy-Org/flux1-dev/resolve/0123456789abcdef/split%20files/diffusion%20models/"
                    + "flux1%20dev%20%232%20%28fp8%29.safetensors"
            ])
        #expect(URL(string: model.sources[0]) != nil)
        #expect(model.huggingface?.file == "split files/diffusion models/flux1 dev #2 (fp8).safetensors")
        #expect(!LockValidator.validate(result.lock).contains { $0.rule == "url" })
    }

    @Test("comfy-cli: the build scan envelope/1 and comfy.lock.yaml import")
    func comfyCLIFormats() throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-peer")
        defer { temp.remove() }
        try Self.python(
            """
            import json, yaml
            definition = {'schema': 'distribution-definition/0',
                          'models': [{'type': 'checkpoints', 'filename': 'sd15.safetensors',
                                      'sha256': '\(String(repeating: "d", count: 64))', 'sizeBytes': 42, 'source': 'local'}],
                          'customNodes': [{'name': 'ComfyUI-Custom-Scripts', 'repository': 'git@github.com:pythongosssss/ComfyUI-Custom-Scripts.git',
                                           'gitRef': '\(Self.nodeCommit)', 'source': 'git'}],
                          'baseComfyVersion': 'v0.3.64'}
            envelope = {'schema': 'envelope/1', 'type': 'envelope', 'ok': True, 'command': 'build scan',
                        'version': '1.6.1', 'where': None,
                        'data': {'models_dir': '/x/models', 'custom_nodes_dir': '/x/custom_nodes',
                                 'base_comfy_version': 'v0.3.64', 'pip_captured': False, 'environment': None,
                                 'count': 1, 'custom_node_count': 1, 'total_bytes': 42, 'definition': definition},
                        'error': None, 'changed': False}
            with open('scan.json', 'w') as f:
                f.write(json.dumps(envelope, ensure_ascii=False) + '\\n')
            data = {'basics': {'name': 'ws', 'updated_at': '2026-01-01T00:00:00'},
                    'models': [{'model': 'sd15', 'url': 'https://example.com/sd15.safetensors',
                                'paths': [{'path': 'models/checkpoints/sd15.safetensors'}],
                                'hash': '\(String(repeating: "e", count: 64))', 'type': 'checkpoint'}],
                    'custom_nodes': []}
            with open('comfy.lock.yaml', 'w', encoding='utf-8') as file:
                yaml.safe_dump(data, file, default_flow_style=False, allow_unicode=True)
            """, in: temp.url)
        let scan = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("scan.json")), format: .comfyCLI, tag: "t", createdBy: "test")
        #expect(scan.lock.comfyui.ref == "v0.3.64")
        #expect(scan.lock.customNodes.first?.url == "https://github.com/pythongosssss/ComfyUI-Custom-Scripts.git")
        #expect(scan.lock.customNodes.first?.commit == Self.nodeCommit)
        #expect(scan.lock.models.map(\.path) == ["checkpoints/sd15.safetensors"])

        let yaml = try LockImporter.importLock(
            Fixtures.bytes(temp.appending("comfy.lock.yaml")), format: .comfyCLI, tag: "t", createdBy: "test")
        #expect(yaml.lock.models.map(\.path) == ["checkpoints/sd15.safetensors"])
        #expect(yaml.lock.models.first?.sha256 == String(repeating: "e", count: 64))
        #expect(yaml.lock.models.first?.sources == ["https://example.com/sd15.safetensors"])
        #expect(yaml.report.missing.contains { $0.path == "$.comfyui.commit" })
    }
}
