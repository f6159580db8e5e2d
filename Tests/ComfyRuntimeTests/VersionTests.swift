import ComfyCLI
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Versions: create, status, digest, drift")
struct VersionTests {
    @Test("create → status clean → same digest for two versions in different roots; models are hard links")
    func createStatusDigest() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        let one = try await fixture.builder().create(name: "one", lock: lock, options: .pythonless)
        let otherRoot = fixture.temp.appending("elsewhere/versions")
        let two = try await fixture.builder(root: otherRoot).create(name: "two", lock: lock, options: .pythonless)
        #expect(one.digest == two.digest)
        #expect(one.modelBytesCopied == 0)
        #expect(one.modelMethods["hardlink"] == 3)

        let dir = fixture.versions.appendingPathComponent("one")
        let layout = VersionLayout(directory: dir)
        let status = try await fixture.inspector.status(directory: dir, lock: lock)
        #expect(status.clean, "\(status.drift)")
        let digest = try await fixture.inspector.digest(directory: otherRoot.appendingPathComponent("two"))
        #expect(digest.digest == one.digest)
        #expect(digest.lines.contains("comfyui \(fixture.comfyCommits[1])"))
        #expect(digest.lines.contains("node node-beta disabled git \(fixture.nodeBCommit)"))

        // Layout: nodes in place (disabled under .disabled), generated YAML, lock copy, models = store inodes.
        #expect(FileManager.default.fileExists(atPath: layout.node("node-alpha", enabled: true).path))
        #expect(FileManager.default.fileExists(atPath: layout.node("node-beta", enabled: false).path))
        let yaml = try String(contentsOf: layout.extraModelPaths, encoding: .utf8)
        #expect(yaml.contains("base_path: '\(layout.models.path)'"))
        #expect(yaml.contains("loras: 'loras/'"))
        #expect(try LockFile.read(from: layout.lockFile) == lock)
        for model in lock.models {
            var a = stat()
            var b = stat()
            stat(layout.models.appendingPathComponent(model.path).path, &a)
            stat(fixture.modelStore.blobURL(sha256: model.sha256).path, &b)
            #expect(a.st_ino == b.st_ino, "\(model.path) is not the store blob")
        }
        // No staging directory remains.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.versions.path)
            .filter { $0.hasPrefix(".staging") }
        #expect(leftovers.isEmpty)
        // The same name and lock again, clean: success, "already built", nothing rebuilt.
        let again = try await fixture.builder().create(name: "one", lock: lock, options: .pythonless)
        #expect(again.alreadyBuilt && again.digest == one.digest)
        // The same name with another lock is refused.
        var other = lock
        other.tag = "other"
        await #expect(throws: RuntimeError.self) {
            try await fixture.builder().create(name: "one", lock: other, options: .pythonless)
        }
        // The same lock over a drifted version is refused, pointing at `version repair`.
        #expect(BlobProtection.unlink(layout.models.appendingPathComponent(lock.models[0].path).path) == 0)
        do {
            _ = try await fixture.builder().create(name: "one", lock: lock, options: .pythonless)
            Issue.record("a drifted version was reported as built")
        } catch {
            #expect("\(error)".contains("version repair"), "\(error)")
        }
    }

    @Test("--models copy gives independent files")
    func copyMode() async throws {
        let fixture = try RuntimeFixture()
        let report = try await fixture.builder().create(
            name: "copied", lock: fixture.lock(), options: VersionCreateOptions(models: .copy, allowUnpinned: true))
        #expect(report.modelMethods["hardlink"] == nil)
        let dir = VersionLayout(directory: fixture.versions.appendingPathComponent("copied"))
        let model = fixture.lock().models[0]
        var a = stat()
        var b = stat()
        stat(dir.models.appendingPathComponent(model.path).path, &a)
        stat(fixture.modelStore.blobURL(sha256: model.sha256).path, &b)
        #expect(a.st_ino != b.st_ino)
    }

    @Test(
        "changing one commit, model or node state in the lock: status and digest differ and lock diff names it",
        arguments: ["commit", "model", "node"])
    func changeDetected(change: String) async throws {
        let fixture = try RuntimeFixture()
        let base = fixture.lock()
        var changed = base
        let expectedKey: String
        switch change {
        case "commit":
            changed.customNodes[0].commit = fixture.nodeACommits[0]
            expectedKey = "node-alpha"
        case "model":
            changed.models[2] = fixture.model("vae/vae.pt", "lora-a.safetensors")
            expectedKey = "vae/vae.pt"
        default:
            changed.comfyui.commit = fixture.comfyCommits[0]
            expectedKey = "comfyui"
        }
        let a = try await fixture.builder().create(name: "a", lock: base, options: .pythonless)
        let b = try await fixture.builder().create(name: "b", lock: changed, options: .pythonless)
        #expect(a.digest != b.digest)
        let drift = try await fixture.inspector.status(
            directory: fixture.versions.appendingPathComponent("a"), lock: changed)
        #expect(!drift.clean)
        #expect(drift.drift.contains { $0.subject.contains(expectedKey) || $0.area.contains(expectedKey) })
        let diff = LockDiffer.diff(base, changed)
        #expect(!diff.isEmpty)
        #expect(diff.entries.contains { "\($0)".contains(expectedKey) || $0.section.contains(expectedKey) })
    }

    @Test("a dirty node, an extra node, a changed model and an extra model file are drift")
    func driftOnDisk() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        _ = try await fixture.builder().create(name: "v", lock: lock, options: .pythonless)
        let layout = VersionLayout(directory: fixture.versions.appendingPathComponent("v"))
        try "# local edit\n".write(
            to: layout.node("node-alpha", enabled: true).appendingPathComponent("__init__.py"), atomically: true,
            encoding: .utf8)
        try FileManager.default.createDirectory(
            at: layout.customNodes.appendingPathComponent("stray-node"), withIntermediateDirectories: true)
        try Data("extra".utf8).write(to: layout.models.appendingPathComponent("checkpoints/extra.ckpt"))
        let status = try await fixture.inspector.status(directory: layout.directory, lock: lock)
        let problems = Set(status.drift.map { "\($0.area)/\($0.subject)/\($0.problem)" })
        #expect(problems.contains("custom-node/node-alpha/dirty"))
        #expect(problems.contains("custom-node/stray-node/extra"))
        #expect(problems.contains("model/checkpoints/extra.ckpt/extra"))
        let digestBefore = try await fixture.inspector.digest(directory: layout.directory)
        try "# another edit\n".write(
            to: layout.node("node-alpha", enabled: true).appendingPathComponent("__init__.py"), atomically: true,
            encoding: .utf8)
        let digestAfter = try await fixture.inspector.digest(directory: layout.directory)
        #expect(digestBefore.digest != digestAfter.digest)
    }

    @Test("a missing model (no source serves it) fails the models step and leaves nothing")
    func missingModelFailsClosed() async throws {
        let fixture = try RuntimeFixture()
        var lock = fixture.lock()
        lock.models[0].sources = [fixture.server.url("/no-such-file").absoluteString]
        let error = try await #require(throws: RuntimeError.self) {
            try await fixture.builder().create(name: "broken", lock: lock, options: .pythonless)
        }
        #expect(error.step == "models")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: fixture.versions.path).filter { !$0.hasSuffix(".lock") }
                .isEmpty)
    }
}

@Suite("Versions through comfy-cli")
struct VersionCLITests {
    @Test("a failure injected at each step leaves no partial version and names the step")
    func failClosedEveryStep() async throws {
        let fixture = try RuntimeFixture()
        let lockPath = try fixture.write(fixture.lock())
        for step in VersionBuilder.steps where step != "publish" {
            // The builder's step hook (package access) fails exactly this step.
            var builder = fixture.builder()
            builder.stepHook = { if $0 == step { throw RuntimeError.invalidInput("injected failure at \(step)") } }
            let error = try await #require(throws: RuntimeError.self, "\(step)") {
                try await builder.create(name: "v", lock: fixture.lock(), options: .pythonless)
            }
            #expect(error.step == step, "\(error)")
            #expect("\(error)".contains("step '\(step)' failed"), "\(error)")
            let entries = try FileManager.default.contentsOfDirectory(atPath: fixture.versions.path)
                .filter { !$0.hasSuffix(".lock") }
            #expect(entries.isEmpty, "\(step) left \(entries)")
        }
        let ok = try Subprocess.comfyCLI(
            ["version", "create", "v", "--lock", lockPath, "--allow-unpinned"], environment: fixture.cliEnvironment)
        #expect(ok.status == 0, "\(ok.standardError)")
        let status = try Subprocess.comfyCLI(["version", "status", "v", "--json"], environment: fixture.cliEnvironment)
        #expect(status.status == 0, "\(status.standardOutput)")
        #expect(status.standardOutput.contains("\"clean\" : true"))
        let list = try Subprocess.comfyCLI(["version", "list", "--json"], environment: fixture.cliEnvironment)
        #expect(list.standardOutput.contains("\"name\" : \"v\""))
        let digest = try Subprocess.comfyCLI(["version", "digest", "v"], environment: fixture.cliEnvironment)
        #expect(digest.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)

        // Dirty node: status exits 1 and says so in JSON.
        let node = fixture.versions.appendingPathComponent("v/ComfyUI/custom_nodes/node-alpha/__init__.py")
        try "changed\n".write(to: node, atomically: true, encoding: .utf8)
        let dirty = try Subprocess.comfyCLI(["version", "status", "v", "--json"], environment: fixture.cliEnvironment)
        #expect(dirty.status == 1)
        #expect(dirty.standardOutput.contains("\"problem\" : \"dirty\""))
    }

    @Test("removal attacks are refused and nothing outside the version is deleted")
    func removalAttacks() async throws {
        let fixture = try RuntimeFixture()
        _ = try await fixture.builder().create(name: "keep", lock: fixture.lock(), options: .pythonless)
        _ = try await fixture.builder().create(name: "victim", lock: fixture.lock(), options: .pythonless)
        let outside = fixture.temp.appending("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: outside.appendingPathComponent("data.txt"))
        try FileManager.default.createSymbolicLink(
            at: fixture.versions.appendingPathComponent("link-out"), withDestinationURL: outside)
        // A symlink inside the version pointing out: removed as a link, never followed.
        try FileManager.default.createSymbolicLink(
            at: fixture.versions.appendingPathComponent("victim/escape"), withDestinationURL: outside)
        let before = RuntimeFixture.snapshot(fixture.temp.url).filter { !$0.hasPrefix("versions/victim") }
        let env = fixture.cliEnvironment
        for (name, extra) in [
            ("link-out", [String]()), ("..", []), (".", []), ("../outside", []), ("", []),
            ("victim", ["--root", "/"]), ("keep", ["--root", env["HOME"]!]),
        ] {
            let result = try Subprocess.comfyCLI(["version", "remove", name, "--yes"] + extra, environment: env)
            #expect(result.status != 0, "removing '\(name)' \(extra) was not refused")
        }
        // Dry run lists exactly what would go and deletes nothing.
        let dry = try Subprocess.comfyCLI(["version", "remove", "victim", "--dry-run", "--json"], environment: env)
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.standardOutput.contains("victim/escape"))
        #expect(!dry.standardOutput.contains("data.txt"))
        #expect(FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("victim").path))
        let removed = try Subprocess.comfyCLI(["version", "remove", "victim", "--yes"], environment: env)
        #expect(removed.status == 0, "\(removed.standardError)")
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("victim").path))
        let after = RuntimeFixture.snapshot(fixture.temp.url).filter { !$0.hasPrefix("versions/victim") }
        #expect(before == after)
        #expect(try String(contentsOf: outside.appendingPathComponent("data.txt"), encoding: .utf8) == "precious")
        // Store blobs are untouched; the remaining version is still clean.
        for model in fixture.lock().models {
            #expect(FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: model.sha256).path))
        }
        let status = try Subprocess.comfyCLI(["version", "status", "keep"], environment: env)
        #expect(status.status == 0)
    }

    @Test("version remove frees the blobs only it used; store gc prunes unreferenced blobs, one summary line")
    func storeGC() async throws {
        let fixture = try RuntimeFixture()
        _ = try await fixture.builder().create(name: "a", lock: fixture.lock(), options: .pythonless)
        var unique = fixture.lock()
        unique.models = [fixture.model("checkpoints/sd.safetensors", "sd-tiny.safetensors")]
        _ = try await fixture.builder().create(name: "b", lock: unique, options: .pythonless)
        let env = fixture.cliEnvironment
        let sdTiny = fixture.modelFiles["sd-tiny.safetensors"]!.sha256
        let vae = fixture.modelFiles["vae.pt"]!.sha256
        let lora = fixture.modelFiles["lora-a.safetensors"]!.sha256
        // A blob no version references (a model fetched once and never used).
        let stray = fixture.temp.appending("stray.bin")
        try Data(repeating: 7, count: 4096).write(to: stray)
        let strayHash = try fixture.modelStore.importFile(at: stray).sha256
        let dry = try Subprocess.comfyCLI(["store", "gc", "--dry-run", "--json"], environment: env)
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.standardOutput.contains(strayHash))
        #expect(!dry.standardOutput.contains("\"\(vae)\""))
        #expect(FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: strayHash).path))
        let gc = try Subprocess.comfyCLI(["store", "gc"], environment: env)
        #expect(gc.status == 0)
        #expect(gc.standardOutput.split(separator: "\n").count == 1, "\(gc.standardOutput)")
        #expect(
            gc.standardOutput.contains("pruned 1 blob(s)") && gc.standardOutput.contains("store "),
            "\(gc.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: strayHash).path))

        // Removing version a frees vae.pt and lora-a (only a used them) at once; sd-tiny is still b's.
        let removed = try Subprocess.comfyCLI(["version", "remove", "a", "--yes", "--json"], environment: env)
        #expect(removed.status == 0, "\(removed.standardError)")
        #expect(
            removed.standardOutput.contains(vae) && removed.standardOutput.contains(lora), "\(removed.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: vae).path))
        #expect(!FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: lora).path))
        #expect(FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: sdTiny).path))
        #expect(try Subprocess.comfyCLI(["version", "status", "b"], environment: env).status == 0)
    }

    @Test("store gc keeps a blob a symlink placement still points at, and empties old quarantine buckets")
    func gcSymlinksAndQuarantine() async throws {
        let fixture = try RuntimeFixture()
        let store = fixture.modelStore
        let file = fixture.temp.appending("m.bin")
        try Data(repeating: 3, count: 10_000).write(to: file)
        let sha = try store.importFile(at: file).sha256
        let link = fixture.temp.appending("elsewhere/m.bin")
        #expect(try store.materialize(sha256: sha, to: link, mode: .symlink) == .symlink)
        var report = try await StoreGC.run(store: store, extraRoots: [], dryRun: false)
        #expect(report.keptLinked == [sha] && report.pruned.isEmpty)
        #expect(FileManager.default.fileExists(atPath: link.path), "the symlink placement was left dangling")
        try FileManager.default.removeItem(at: link)
        report = try await StoreGC.run(store: store, extraRoots: [], dryRun: false)
        #expect(report.pruned == [sha])

        // Quarantine: a bucket from 2020 goes, a fresh one stays.
        let old = store.quarantineDirectory.appendingPathComponent("20200101T000000Z-abc")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        try Data(repeating: 1, count: 500).write(to: old.appendingPathComponent("bad-blob"))
        let fresh = fixture.temp.appending("fresh.bin")
        try Data(repeating: 2, count: 300).write(to: fresh)
        let moved = try store.quarantine(fresh)
        report = try await StoreGC.run(store: store, extraRoots: [], dryRun: false)
        #expect(report.quarantinePruned == [old.path] && report.quarantineBytes == 500)
        #expect(!FileManager.default.fileExists(atPath: old.path))
        #expect(FileManager.default.fileExists(atPath: moved.path))
        #expect(report.quarantineBytesLeft == 300)
    }

    @Test("version repair re-materializes a removed model, a broken node and a dirty ComfyUI from the lock")
    func repair() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        _ = try await fixture.builder().create(name: "v", lock: lock, options: .pythonless)
        let layout = VersionLayout(directory: fixture.versions.appendingPathComponent("v"))
        #expect(BlobProtection.unlink(layout.models.appendingPathComponent("vae/vae.pt").path) == 0)
        try Data("extra".utf8).write(to: layout.models.appendingPathComponent("checkpoints/stray.bin"))
        try "edited\n".write(to: layout.comfyUI.appendingPathComponent("main.py"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(
            at: layout.node("node-alpha", enabled: true).appendingPathComponent("__init__.py"))
        let env = fixture.cliEnvironment
        #expect(try Subprocess.comfyCLI(["version", "status", "v"], environment: env).status == 1)
        let repaired = try Subprocess.comfyCLI(["version", "repair", "v", "--json"], environment: env)
        #expect(repaired.status == 0, "\(repaired.standardOutput)\(repaired.standardError)")
        for item in ["comfyui", "custom-node node-alpha", "model vae/vae.pt", "removed model checkpoints/stray.bin"] {
            #expect(repaired.standardOutput.contains("\"\(item)\""), "\(item) not repaired: \(repaired.standardOutput)")
        }
        #expect(try Subprocess.comfyCLI(["version", "status", "v"], environment: env).status == 0)
        let again = try Subprocess.comfyCLI(["version", "repair", "v"], environment: env)
        #expect(again.status == 0 && again.standardOutput.contains("nothing to repair"))
    }
}

@Suite("lock create and init")
struct LockCreateInitTests {
    @Test("lock create from a version reproduces its lock, byte-identical twice; dirty refused unless allowed")
    func lockCreate() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        let lockPath = try fixture.write(lock)
        _ = try await fixture.builder().create(name: "v", lock: lock, options: .pythonless)
        let comfy = fixture.versions.appendingPathComponent("v/ComfyUI").path
        let env = fixture.cliEnvironment
        let out1 = fixture.temp.appending("out1.json").path
        let out2 = fixture.temp.appending("out2.json").path
        for out in [out1, out2] {
            let result = try Subprocess.comfyCLI(
                ["lock", "create", "--comfyui", comfy, "--tag", "fixture", "--previous", lockPath, "-o", out],
                environment: env)
            #expect(result.status == 0, "\(result.standardError)")
        }
        let bytes1 = try Data(contentsOf: URL(fileURLWithPath: out1))
        #expect(bytes1 == (try Data(contentsOf: URL(fileURLWithPath: out2))))
        let recorded = try LockFile.read(from: URL(fileURLWithPath: out1))
        #expect(recorded.comfyui.commit == lock.comfyui.commit)
        #expect(recorded.customNodes.map(\.commit) == lock.customNodes.map(\.commit))
        #expect(recorded.customNodes.map(\.enabled) == [true, false])
        #expect(recorded.models == lock.models)

        // Without sources: reported, not dropped.
        let bare = try Subprocess.comfyCLI(
            ["lock", "create", "--comfyui", comfy, "--tag", "t", "-o", fixture.temp.appending("bare.json").path],
            environment: env)
        #expect(bare.status == 0)
        #expect(bare.standardError.contains("has no source"))
        #expect(try LockFile.read(from: fixture.temp.appending("bare.json")).models.count == 3)

        // A models manifest supplies sources.
        let manifest = fixture.temp.appending("manifest.json")
        try #"{"models": [{"path": "vae/vae.pt", "sources": ["https://models.example/vae.pt"]}]}"#
            .write(to: manifest, atomically: true, encoding: .utf8)
        let withManifest = try Subprocess.comfyCLI(
            [
                "lock", "create", "--comfyui", comfy, "--tag", "t", "--models-manifest", manifest.path, "-o",
                fixture.temp.appending("m.json").path,
            ], environment: env)
        #expect(withManifest.status == 0)
        let vae = try LockFile.read(from: fixture.temp.appending("m.json")).models.first { $0.path == "vae/vae.pt" }
        #expect(vae?.sources == ["https://models.example/vae.pt"])

        // Dirty node: refused, then recorded with --allow-dirty and flagged.
        try "dirty\n".write(
            to: URL(fileURLWithPath: comfy).appendingPathComponent("custom_nodes/node-alpha/new.py"), atomically: true,
            encoding: .utf8)
        let refused = try Subprocess.comfyCLI(
            ["lock", "create", "--comfyui", comfy, "--tag", "t", "-o", fixture.temp.appending("d.json").path],
            environment: env)
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("uncommitted changes"))
        #expect(!FileManager.default.fileExists(atPath: fixture.temp.appending("d.json").path))
        let allowed = try Subprocess.comfyCLI(
            [
                "lock", "create", "--comfyui", comfy, "--tag", "t", "--allow-dirty", "-o",
                fixture.temp.appending("d.json").path,
            ], environment: env)
        #expect(allowed.status == 0)
        #expect(allowed.standardError.contains("dirty"))
    }

    @Test("init clones, creates the venv, installs requirements; a re-run is a no-op; a broken venv is repaired")
    func initIdempotent() async throws {
        let fixture = try RuntimeFixture()
        let env = fixture.cliEnvironment
        let path = fixture.temp.appending("comfy").path
        let args = [
            "init", "--path", path, "--comfyui-url", fixture.official(fixture.comfyRepo), "--ref", "v0.1", "--no-index",
            "--json",
        ]
        let first = try Subprocess.comfyCLI(args, environment: env)
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("\"clone\""))
        #expect(first.standardOutput.contains(fixture.comfyCommits[0]))
        #expect(FileManager.default.fileExists(atPath: path + "/venv/bin/python"))
        let second = try Subprocess.comfyCLI(args, environment: env)
        #expect(second.status == 0)
        #expect(second.standardOutput.contains("\"alreadyDone\" : true"))
        // Half-finished: the venv lost its interpreter.
        try FileManager.default.removeItem(atPath: path + "/venv/bin/python")
        let repaired = try Subprocess.comfyCLI(args, environment: env)
        #expect(repaired.status == 0, "\(repaired.standardError)")
        #expect(repaired.standardOutput.contains("\"venv\""))
        #expect(repaired.standardOutput.contains("\"requirements\""))
        #expect(FileManager.default.fileExists(atPath: path + "/venv/bin/python"))
        // A non-empty directory that is not ComfyUI is never overwritten.
        let other = fixture.temp.appending("occupied")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: other.appendingPathComponent("file"))
        let refused = try Subprocess.comfyCLI(
            ["init", "--path", other.path, "--comfyui-url", fixture.comfyRepo.path], environment: env)
        #expect(refused.status == 2)
        #expect(FileManager.default.fileExists(atPath: other.appendingPathComponent("file").path))
    }
}

@Suite("shared blobs cannot be corrupted through a version")
struct SharedBlobTests {
    @Test("hard-linked blobs are read-only and immutable; a corrupted blob is repaired in the store and every sharer")
    func immutableAndRepair() async throws {
        let fixture = try RuntimeFixture()
        let lock = fixture.lock()
        let a = try await fixture.builder().create(name: "a", lock: lock, options: .pythonless)
        _ = try await fixture.builder().create(name: "b", lock: lock, options: .pythonless)
        #expect(a.placement.contains("hardlink"), "\(a.placement)")
        let model = lock.models[0]
        let blob = fixture.modelStore.blobURL(sha256: model.sha256).path
        let inB = VersionLayout(directory: fixture.versions.appendingPathComponent("b")).models
            .appendingPathComponent(model.path).path
        var info = stat()
        #expect(stat(blob, &info) == 0 && info.st_mode & 0o222 == 0, "the shared blob is writable")
        // Root ignores mode bits; the immutable flag stops root too (where the file system supports it).
        let immutable = BlobProtection.isImmutable(blob)
        if getuid() == 0 { #expect(immutable, "running as root on \(fixture.store.path): FS_IMMUTABLE_FL not set") }
        let fd = open(inB, O_WRONLY)
        if immutable {
            #expect(fd < 0 && errno == EPERM, "a write through version b's hard link was allowed")
        }
        if fd >= 0 { close(fd) }

        // An administrator overrides it and corrupts the shared inode: both versions and the store are bad.
        _ = try Subprocess.run("/usr/bin/chattr", ["-i", blob])
        _ = chmod(blob, 0o644)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: inB))
        try handle.seek(toOffset: 10)
        try handle.write(contentsOf: Data("corrupt".utf8))
        try handle.close()
        let env = fixture.cliEnvironment
        #expect(try Subprocess.comfyCLI(["version", "status", "a"], environment: env).status == 1)
        // Repairing b re-fetches the blob and re-places it in b and in a, which shared it.
        let repaired = try Subprocess.comfyCLI(["version", "repair", "b", "--json"], environment: env)
        #expect(repaired.status == 0, "\(repaired.standardOutput)\(repaired.standardError)")
        #expect(repaired.standardOutput.contains("shared model"), "\(repaired.standardOutput)")
        for name in ["a", "b"] {
            let status = try Subprocess.comfyCLI(["version", "status", name], environment: env)
            #expect(status.status == 0, "\(name): \(status.standardOutput)")
        }
        #expect(try fixture.modelStore.hashFile(at: URL(fileURLWithPath: blob), deep: true).sha256 == model.sha256)
        // version remove keeps the remaining sharer's blob protected.
        #expect(try Subprocess.comfyCLI(["version", "remove", "b", "--yes"], environment: env).status == 0)
        if immutable { #expect(BlobProtection.isImmutable(blob)) }
    }
}
