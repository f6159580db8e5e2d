import ComfyCLI
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

@Suite("version compare: two versions field by field")
struct VersionCompareTests {
    @Test(
        "two versions from one lock (real venvs from wheels) at different roots compare equal; a changed pin is named")
    func pythonVersionsCompare() async throws {
        let versions = try PythonVersionFixture()
        defer { versions.close() }
        let fixture = versions.runtime
        let lock = versions.lock()
        let otherRoot = fixture.temp.appending("elsewhere/versions")
        let a = try await versions.create("a", lock: lock)
        let b = try await versions.create("b", lock: lock, root: otherRoot)
        let inspector = versions.inspector

        let same = try await inspector.compare(a, b)
        #expect(same.identical, "\(same.differences)")
        #expect(same.counts["python"] == 3)
        #expect(same.counts["models"] == 3)
        #expect(same.counts["nodes"] == 2)
        // The observation really covers what the issue lists: commit + tree hashes, RECORD hashes, model hashes,
        // the model folder configuration (with the version directory abstracted away).
        let observed = try await inspector.observe(directory: a)
        #expect(observed.comfyUI?.commit == fixture.comfyCommits[1])
        #expect(observed.comfyUI?.tree?.count == 40)
        #expect(observed.nodes.allSatisfy { $0.kind == "git" && $0.tree?.count == 40 })
        #expect(observed.python?.allSatisfy { $0.record?.count == 64 && $0.artifact.hasPrefix("sha256:") } == true)
        #expect(observed.extraModelPaths?.contains("checkpoints <version>/models/checkpoints") == true)
        // digest is computed from the same observation and is still root-independent.
        let digestA = try await inspector.digest(directory: a)
        let digestB = try await inspector.digest(directory: b)
        #expect(digestA == digestB)

        // One pin changed (another version of shared): compare names the distribution and the field.
        let changed = versions.lock(["alpha": "1.0", "shared": "2.0", "gamma": "0.5"])
        let c = try await versions.create("c", lock: changed, root: otherRoot)
        let different = try await inspector.compare(a, c)
        #expect(!different.identical)
        let shared = different.differences.filter { $0.area == "python" && $0.subject == "shared" }
        #expect(shared.contains { $0.field == "version" && $0.a == "1.0" && $0.b == "2.0" }, "\(different.differences)")
        #expect(shared.contains { $0.field == "artifact" })
        #expect(shared.contains { $0.field == "record" })
        #expect(different.differences.allSatisfy { $0.area == "python" }, "\(different.differences)")
        #expect(different.lockDigests[0] != different.lockDigests[1])

        // A rebuilt wheel of the same version (other files, same name and version): the RECORD hash names it.
        let lib = b.appendingPathComponent("venv/lib")
        let recordPath = try #require(
            FileManager.default.enumerator(atPath: lib.path)?.allObjects.compactMap { $0 as? String }
                .first { $0.hasSuffix("alpha-1.0.dist-info/RECORD") })
        let record = lib.appendingPathComponent(recordPath)
        try (String(contentsOf: record, encoding: .utf8) + "alpha/extra.py,sha256=AAAA,4\n")
            .write(to: record, atomically: true, encoding: .utf8)
        let rebuilt = try await inspector.compare(a, b).differences
        #expect(rebuilt.count == 1, "\(rebuilt)")
        #expect(
            rebuilt.first?.area == "python" && rebuilt.first?.subject == "alpha" && rebuilt.first?.field == "record")
    }

    @Test("a changed node commit, model, enabled state, local edit or missing YAML is named field by field")
    func changesNamed() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        _ = try await fixture.builder().create(name: "base", lock: lock, options: .pythonless)
        var changed = lock
        changed.customNodes[0].commit = fixture.nodeACommits[0]
        changed.customNodes[1].enabled = true
        changed.models.removeAll { $0.path == "vae/vae.pt" }
        _ = try await fixture.builder().create(name: "changed", lock: changed, options: .pythonless)
        let base = fixture.versions.appendingPathComponent("base")
        let other = fixture.versions.appendingPathComponent("changed")
        let result = try await fixture.inspector.compare(base, other)
        let text = result.differences.map(\.description)
        #expect(
            text.contains(
                "custom-node node-alpha: commit: A \(fixture.nodeACommits[1]), B \(fixture.nodeACommits[0])"), "\(text)"
        )
        #expect(text.contains { $0.hasPrefix("custom-node node-alpha: tree: A ") })
        #expect(text.contains("custom-node node-beta: enabled: A false, B true"), "\(text)")
        #expect(text.contains { $0.hasPrefix("model vae/vae.pt: present: A ") && $0.hasSuffix("B (absent)") })
        #expect(result.differences.count == 4, "\(text)")

        // A local edit in ComfyUI (tracked file) and a replaced model file are named too.
        let comfy = other.appendingPathComponent("ComfyUI")
        let tracked = try #require(
            try FileManager.default.contentsOfDirectory(atPath: comfy.path).first { $0.hasSuffix(".py") })
        try "print('edited')\n".write(to: comfy.appendingPathComponent(tracked), atomically: true, encoding: .utf8)
        let model = other.appendingPathComponent("models/checkpoints/sd-tiny.safetensors")
        #expect(BlobProtection.unlink(model.path) == 0)  // a shared blob link is immutable: as an administrator would
        try Data(repeating: 7, count: 10).write(to: model)
        try FileManager.default.removeItem(at: VersionLayout(directory: other).extraModelPaths)
        let edited = try await fixture.inspector.compare(base, other).differences.map(\.description)
        #expect(edited.contains { $0.hasPrefix("comfyui ComfyUI: dirty \(tracked): A clean, B ") }, "\(edited)")
        #expect(
            edited.contains {
                $0.hasPrefix("model checkpoints/sd-tiny.safetensors: size: A ") && $0.hasSuffix(", B 10")
            })
        #expect(edited.contains { $0.hasPrefix("model checkpoints/sd-tiny.safetensors: sha256: ") })
        #expect(edited.contains { $0.hasPrefix("config ComfyUI/extra_model_paths.yaml: present: A ") })
    }

    @Test("comfy-cli version compare: exit 0 identical, 1 with each difference, 2 for a missing version; --json")
    func cli() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        _ = try await fixture.builder().create(name: "one", lock: lock, options: .pythonless)
        let otherRoot = fixture.temp.appending("other")
        _ = try await fixture.builder(root: otherRoot).create(name: "two", lock: lock, options: .pythonless)
        var changed = lock
        changed.customNodes[0].commit = fixture.nodeACommits[0]
        _ = try await fixture.builder().create(name: "three", lock: changed, options: .pythonless)
        let env = fixture.cliEnvironment

        let same = try Subprocess.comfyCLI(
            ["version", "compare", "one", otherRoot.appendingPathComponent("two").path], environment: env)
        #expect(same.status == 0, "\(same.standardOutput)\(same.standardError)")
        #expect(same.standardOutput.hasPrefix("identical: one and "))

        let differ = try Subprocess.comfyCLI(["version", "compare", "one", "three"], environment: env)
        #expect(differ.status == 1)
        #expect(differ.standardOutput.contains("custom-node node-alpha: commit: A \(fixture.nodeACommits[1])"))
        #expect(differ.standardOutput.contains("note: built from different locks"))

        let json = try Subprocess.comfyCLI(
            ["version", "compare", "one", "three", "--json", "--root", fixture.versions.path], environment: env)
        #expect(json.status == 1)
        let decoded = try JSONDecoder().decode(VersionComparison.self, from: Data(json.standardOutput.utf8))
        #expect(!decoded.identical)
        #expect(decoded.differences.contains { $0.subject == "node-alpha" && $0.field == "commit" })

        let missing = try Subprocess.comfyCLI(["version", "compare", "one", "nope"], environment: env)
        #expect(missing.status == 2)
        #expect(missing.standardError.contains("no version at"))
        let hostile = try Subprocess.comfyCLI(["version", "compare", "one", "../one"], environment: env)
        #expect(hostile.status == 2)
    }
}
