import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 9 class 1: nothing a lock, a snapshot or a repository's own configuration names is ever executed by git.
/// Real git, real repositories in temporary directories; every hostile value tries to create a marker file.
@Suite("Security: git option injection and repository configuration")
struct GitInjectionTests {
    /// Option-looking URLs and transports that run a command when git takes them (each touches `marker`).
    static func hostileURLs(_ marker: String) -> [String] {
        [
            "--upload-pack=touch \(marker)", "-oProxyCommand=touch \(marker)", "ext::sh -c touch% \(marker)",
            "ssh://-oProxyCommand=touch%20\(marker)/x", "--config=core.sshCommand=touch \(marker)",
        ]
    }

    static func hostileCommits(_ marker: String) -> [String] {
        ["--upload-pack=touch \(marker)", "-oProxyCommand=touch \(marker)", "HEAD", "main"]
    }

    @Test(
        "a lock whose URL or commit is option-looking is refused by pin, pin wheelhouse, version create, models verify")
    func hostileLockRefusedByEveryCommand() async throws {
        let fixture = try RuntimeFixture()
        let marker = fixture.temp.appending("MARKER").path
        var cases: [(field: String, lock: Lock)] = []
        for url in Self.hostileURLs(marker) {
            var lock = fixture.lock()
            lock.comfyui.url = url
            cases.append(("$.comfyui.url", lock))
            var node = fixture.lock()
            node.customNodes[0].url = url
            cases.append(("$.customNodes[0].url", node))
        }
        for commit in Self.hostileCommits(marker) {
            var lock = fixture.lock()
            lock.comfyui.commit = commit
            cases.append(("$.comfyui.commit", lock))
            var node = fixture.lock()
            node.customNodes[0].commit = commit
            cases.append(("$.customNodes[0].commit", node))
        }
        let models = fixture.temp.appending("models").path
        let wheels = fixture.temp.appending("wheels").path
        for (index, item) in cases.enumerated() {
            let path = try fixture.write(item.lock, name: "hostile-\(index).json")
            let commands: [[String]] = [
                ["pin", "--lock", path], ["pin", "wheelhouse", "--lock", path, wheels],
                ["version", "create", "v\(index)", "--lock", path],
                ["models", "verify", "--lock", path, "--root", models],
            ]
            for command in commands {
                let result = try Subprocess.comfyCLI(command, environment: fixture.cliEnvironment)
                #expect(result.status == 2, "\(command): \(result.standardError)")
                #expect(result.standardError.contains(item.field), "\(command): \(result.standardError)")
                #expect(!FileManager.default.fileExists(atPath: marker), "\(command) ran a command from the lock")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: wheels))
        #expect(!FileManager.default.fileExists(atPath: models))
        #expect(RuntimeFixture.snapshot(fixture.versions).isEmpty)
    }

    @Test("the git layer itself refuses hostile URLs and revisions (defence behind the validator)")
    func gitLayerRefuses() async throws {
        let fixture = try RuntimeFixture()
        let marker = fixture.temp.appending("MARKER").path
        let cache = GitCache(storeRoot: fixture.store)
        for url in Self.hostileURLs(marker) {
            await #expect(throws: (any Error).self) {
                try await cache.ensure(url: url, commit: fixture.comfyCommits[0])
            }
            await #expect(throws: (any Error).self) { try await cache.resolve(url: url, ref: nil) }
            var lock = fixture.lock()
            lock.comfyui.url = url
            await #expect(throws: (any Error).self) { try await LockRequirements.collect(from: lock) }
            let initializer = ComfyInitializer(gitCache: cache)
            await #expect(throws: (any Error).self) {
                try await initializer.run(
                    InitOptions(
                        path: fixture.temp.appending("init-\(url.count)"), url: url,
                        environment: ProcessInfo.processInfo.environment))
            }
            #expect(!FileManager.default.fileExists(atPath: fixture.temp.appending("init-\(url.count)").path))
        }
        for commit in Self.hostileCommits(marker) {
            await #expect(throws: (any Error).self) {
                try await cache.ensure(url: fixture.comfyRepo.path, commit: commit)
            }
        }
        await #expect(throws: (any Error).self) {
            try await Git().commit("--output=\(marker)", in: fixture.comfyRepo.path)
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("init --comfyui-url with an option-looking URL is refused before anything is created")
    func initURLRefused() async throws {
        let fixture = try RuntimeFixture()
        let marker = fixture.temp.appending("MARKER").path
        for (index, url) in Self.hostileURLs(marker).enumerated() {
            let target = fixture.temp.appending("comfy-\(index)").path
            let result = try Subprocess.comfyCLI(
                ["init", "--path", target, "--comfyui-url=\(url)"], environment: fixture.cliEnvironment)
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains("git URL refused"), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test("lock import refuses a snapshot whose node URL or hash is option-looking (not copied into a lock)")
    func importRefusesHostileSnapshot() async throws {
        let fixture = try RuntimeFixture()
        let marker = fixture.temp.appending("MARKER").path
        let good = String(repeating: "a", count: 40)
        let snapshots: [(String, String)] = [
            (
                #"{"comfyui": "\#(good)", "git_custom_nodes": {"--upload-pack=touch \#(marker)": {"hash": "\#(good)"}}}"#,
                "$.customNodes[0].url"
            ),
            (
                #"{"comfyui": "\#(good)", "git_custom_nodes": {"https://h.example/a/b": {"hash": "--upload-pack=x"}}}"#,
                "commit"
            ),
            (#"{"comfyui": "-oProxyCommand=touch \#(marker)", "git_custom_nodes": {}}"#, "$.comfyui.ref"),
            (
                "comfyui: \(good)\ngit_custom_nodes:\n  'ext::sh -c touch% \(marker)':\n    hash: \(good)\n",
                "$.customNodes[0].url"
            ),
        ]
        for (index, (text, field)) in snapshots.enumerated() {
            let input = fixture.temp.appending("snap-\(index).json")
            try text.write(to: input, atomically: true, encoding: .utf8)
            let output = fixture.temp.appending("imported-\(index).json").path
            let result = try Subprocess.comfyCLI(
                ["lock", "import", "--from", "manager", input.path, "-o", output], environment: fixture.cliEnvironment)
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains(field), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    /// Makes `repo`'s own configuration hostile: fsmonitor, hooks, a clean/smudge filter on every file, askpass,
    /// sshCommand and a credential helper — each would touch `marker`. Also makes the work tree's stat data stale so
    /// `status` re-reads (and would filter) every file.
    static func poison(_ repo: URL, marker: String) throws {
        let hooks = repo.appendingPathComponent(".git/evil-hooks")
        try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
        let script = "#!/bin/sh\ntouch '\(marker)'\ncat\n"
        for hook in ["post-checkout", "reference-transaction", "post-index-change", "fsmonitor-watchman"] {
            let path = hooks.appendingPathComponent(hook)
            try script.write(to: path, atomically: true, encoding: .utf8)
            chmod(path.path, 0o755)
        }
        let settings: [(String, String)] = [
            ("core.fsmonitor", hooks.appendingPathComponent("fsmonitor-watchman").path),
            ("core.hooksPath", hooks.path), ("filter.evil.clean", "touch '\(marker)'; cat"),
            ("filter.evil.smudge", "touch '\(marker)'; cat"), ("filter.evil.required", "true"),
            ("core.askPass", "touch '\(marker)'"), ("core.sshCommand", "touch '\(marker)'"),
            ("credential.helper", "!touch '\(marker)'"), ("core.alternateRefsCommand", "touch '\(marker)'"),
        ]
        for (key, value) in settings { try RuntimeFixture.git(["config", key, value], in: repo) }
        try "* filter=evil\n".write(
            to: repo.appendingPathComponent(".git/info/attributes"), atomically: true, encoding: .utf8)
        for file in try FileManager.default.contentsOfDirectory(atPath: repo.path) where file != ".git" {
            let url = repo.appendingPathComponent(file)
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: 5)], ofItemAtPath: url.path)
        }
    }

    @Test("a custom node whose own .git/config sets fsmonitor, hooks and filters runs nothing in lock create / status")
    func repositoryConfigRunsNothing() async throws {
        let fixture = try RuntimeFixture()
        let marker = fixture.temp.appending("MARKER").path
        _ = try await fixture.builder().create(
            name: "v", lock: fixture.lock(), options: VersionCreateOptions(allowUnpinned: true))
        let version = fixture.versions.appendingPathComponent("v")
        let node = version.appendingPathComponent("ComfyUI/custom_nodes/node-alpha")
        try Self.poison(node, marker: marker)
        try Self.poison(version.appendingPathComponent("ComfyUI"), marker: marker)

        // The control: plain git in this repository does run the repository's commands (the test can fail).
        _ = try? Subprocess.run("/usr/bin/git", ["-C", node.path, "status", "--porcelain"])
        #expect(FileManager.default.fileExists(atPath: marker), "control: plain git status should run the hook")
        try? FileManager.default.removeItem(atPath: marker)
        // Restore stale stat data (the control run refreshed the index).
        try Self.poison(node, marker: marker)

        let status = try await fixture.inspector.status(directory: version, lock: fixture.lock())
        _ = status
        #expect(!FileManager.default.fileExists(atPath: marker), "version status ran a command from .git/config")
        _ = try await fixture.inspector.digest(directory: version)
        #expect(!FileManager.default.fileExists(atPath: marker), "version digest ran a command from .git/config")

        let creator = LockCreator(store: fixture.modelStore, python: nil)
        _ = try? await creator.create(
            LockCreateRequest(comfyUI: version.appendingPathComponent("ComfyUI"), tag: "t", allowDirty: true))
        #expect(!FileManager.default.fileExists(atPath: marker), "lock create ran a command from .git/config")
        let cli = try Subprocess.comfyCLI(
            [
                "lock", "create", "--comfyui", version.appendingPathComponent("ComfyUI").path, "--tag", "t",
                "--allow-dirty", "-o", fixture.temp.appending("created.json").path,
            ], environment: fixture.cliEnvironment)
        _ = cli
        #expect(!FileManager.default.fileExists(atPath: marker), "comfy-cli lock create ran a command from .git/config")
    }
}
