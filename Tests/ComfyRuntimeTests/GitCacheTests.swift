import ComfyRuntime
import Foundation
import TestSupport
import Testing

@Suite("Git object cache and URL rewriting")
struct GitCacheTests {
    @Test("URLs of one repository share a cache key; credentials never reach it")
    func normalization() {
        let forms = [
            "https://github.com/Comfy-Org/ComfyUI.git", "https://github.com/Comfy-Org/ComfyUI",
            "https://GitHub.com/Comfy-Org/ComfyUI/", "git@github.com:Comfy-Org/ComfyUI.git",
            "ssh://git@github.com:22/Comfy-Org/ComfyUI.git", "https://user:tok3n@github.com/Comfy-Org/ComfyUI.git",
        ]
        let keys = Set(forms.map(GitURL.cacheKey))
        #expect(keys.count == 1)
        #expect(GitURL.normalized(forms[0]) == "github.com/Comfy-Org/ComfyUI")
        #expect(!keys.first!.contains("tok3n"))
        #expect(GitURL.cacheKey("https://github.com/a/b") != GitURL.cacheKey("https://github.com/a/c"))
        #expect(GitURL.strippingCredentials("https://u:p@h.example/x.git") == "https://h.example/x.git")
        #expect(GitURL.normalized("/srv/repos/x/") == "file:/srv/repos/x")
    }

    @Test("mirror rules: env pairs, a git base, a config file; the longest prefix wins")
    func rewriting() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let file = temp.appending("mirrors.conf")
        try """
        # comment
        https://github.com/ = https://mirror.internal/gh/
        models: https://huggingface.co/ = http://models.internal/hf/
        git: https://github.com/special/ = file:///srv/special/
        """.write(to: file, atomically: true, encoding: .utf8)
        let rewriter = try URLRewriter.fromEnvironment(["COMFYLOCK_MIRRORS": file.path, "HOME": temp.path])
        #expect(rewriter.rewrite("https://github.com/a/b.git", kind: .git) == "https://mirror.internal/gh/a/b.git")
        #expect(rewriter.rewrite("https://github.com/special/x", kind: .git) == "file:///srv/special/x")
        #expect(
            rewriter.rewrite("https://github.com/special/x", kind: .model) == "https://mirror.internal/gh/special/x")
        #expect(rewriter.rewrite("https://huggingface.co/r/f", kind: .model) == "http://models.internal/hf/r/f")
        #expect(rewriter.rewrite("https://huggingface.co/r/f", kind: .git) == "https://huggingface.co/r/f")
        let base = try URLRewriter.fromEnvironment(["COMFYLOCK_GIT_MIRROR": "/srv/git", "HOME": temp.path])
        #expect(base.rewrite("https://github.com/a/b.git", kind: .git) == "/srv/git/github.com/a/b.git")
        let pairs = try URLRewriter.fromEnvironment([
            "COMFYLOCK_GIT_MIRROR": "https://a.example/=https://b.example/;https://c.example/=/srv/c/",
            "HOME": temp.path,
        ])
        #expect(pairs.rewrite("https://c.example/x", kind: .git) == "/srv/c/x")
        try "not a rule\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: RuntimeError.self) { try URLRewriter.fromEnvironment(["COMFYLOCK_MIRRORS": file.path]) }
    }

    @Test("a second checkout borrows everything from the cache: it works with the upstream gone")
    func secondCheckoutNeedsNoUpstream() async throws {
        let fixture = try RuntimeFixture()
        let cache = GitCache(storeRoot: fixture.store)
        let first = fixture.temp.appending("wt1")
        try await cache.checkout(url: fixture.comfyRepo.path, commit: fixture.comfyCommits[1], into: first)
        #expect(try await cache.git.head(in: first.path) == fixture.comfyCommits[1])
        #expect(try await cache.git.remoteURL(in: first.path) == fixture.comfyRepo.path)
        // Upstream disappears: an older commit, already in the mirror, still checks out.
        let moved = fixture.temp.appending("upstream-moved")
        try FileManager.default.moveItem(at: fixture.comfyRepo, to: moved)
        let second = fixture.temp.appending("wt2")
        try await cache.checkout(url: fixture.comfyRepo.path, commit: fixture.comfyCommits[0], into: second)
        #expect(try await cache.git.head(in: second.path) == fixture.comfyCommits[0])
        #expect(
            try String(contentsOf: second.appendingPathComponent("main.py"), encoding: .utf8).contains("fake ComfyUI"))
        // The clone's objects are hard links into the mirror (no second copy).
        let packs = try FileManager.default.subpathsOfDirectory(
            atPath: second.appendingPathComponent(".git/objects").path)
        let linked = try packs.filter { path in
            let attrs = try FileManager.default.attributesOfItem(
                atPath: second.appendingPathComponent(".git/objects/\(path)").path)
            return (attrs[.type] as? FileAttributeType) == .typeRegular
                && ((attrs[.referenceCount] as? NSNumber)?.intValue ?? 1) > 1
        }
        #expect(!linked.isEmpty)
    }

    @Test("a commit missing upstream is an error naming the repository and the commit")
    func missingCommit() async throws {
        let fixture = try RuntimeFixture()
        let missing = String(repeating: "ab", count: 20)
        let error = try await #require(throws: RuntimeError.self) {
            try await GitCache(storeRoot: fixture.store).checkout(
                url: fixture.nodeA.path, commit: missing, into: fixture.temp.appending("wt"))
        }
        #expect(error.isCommitNotFound)
        #expect(error.description.contains(missing))
        #expect(error.description.contains(fixture.nodeA.path))
        #expect(!FileManager.default.fileExists(atPath: fixture.temp.appending("wt").path))
    }

    @Test("mirror rewriting is used for fetching but the original URL is what the checkout records")
    func mirrorRewrite() async throws {
        let fixture = try RuntimeFixture()
        let official = "https://git.example.invalid/comfy/ComfyUI.git"
        let rewriter = URLRewriter(rules: [
            .init(
                prefix: "https://git.example.invalid/comfy/",
                replacement: fixture.comfyRepo.deletingLastPathComponent().path + "/", kinds: [.git])
        ])
        let cache = GitCache(storeRoot: fixture.store, rewriter: rewriter)
        let target = fixture.temp.appending("wt")
        try await cache.checkout(url: official, commit: fixture.comfyCommits[1], into: target)
        #expect(try await cache.git.remoteURL(in: target.path) == official)
        let resolved = try await cache.resolve(url: official, ref: "v0.1")
        #expect(resolved == fixture.comfyCommits[0])
        #expect(try await cache.resolve(url: official, ref: nil) == fixture.comfyCommits[1])
    }
}
