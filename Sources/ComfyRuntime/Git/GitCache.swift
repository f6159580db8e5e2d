internal import ComfyLock
internal import ComfySupport
public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// The git object cache: one bare mirror per repository under `<store>/git/<key>.git`, keyed by the normalized URL
/// (`GitURL.cacheKey`). Work trees for versions are local clones of a mirror, so their objects are hard links into
/// the cache: a second version of the same repository downloads nothing and stores no second copy of its history.
///
/// A mirror is created in a temporary directory and renamed into place only when its first fetch succeeded; fetches
/// into an existing mirror run under an exclusive `flock` so concurrent version builds do not race.
public struct GitCache: Sendable {
    /// The cache directory (`<store>/git`).
    public let directory: URL
    /// The git runner.
    public let git: Git
    /// Mirror rewriting applied to every fetch (never recorded).
    public let rewriter: URLRewriter

    /// A cache under `storeRoot/git`.
    public init(storeRoot: URL, git: Git = Git(), rewriter: URLRewriter = URLRewriter()) {
        self.directory = RuntimeStore.gitCache(root: storeRoot)
        self.git = git
        self.rewriter = rewriter
    }

    /// The mirror directory for `url` (it may not exist yet).
    public func mirrorPath(for url: String) -> URL {
        directory.appendingPathComponent(GitURL.cacheKey(url) + ".git", isDirectory: true)
    }

    /// Makes sure the mirror of `url` holds `commit`, fetching only when it does not. Returns the mirror path.
    ///
    /// Throws `RuntimeError.commitNotFound` naming the repository and commit when neither a full fetch of branches and
    /// tags nor a direct fetch of the commit brings it.
    @discardableResult
    public func ensure(url: String, commit: String) async throws -> URL {
        guard GitCommitID.isFull(commit) else {
            throw RuntimeError.invalidInput(
                "\(Escaping.quoted(commit)) is not a full commit hash (40 lowercase hex) for \(Redaction.redactURL(url))"
            )
        }
        _ = try Git.remote(url)
        let mirror = mirrorPath(for: url)
        if FileManager.default.fileExists(atPath: mirror.path), try await git.hasCommit(commit, in: mirror.path) {
            return mirror
        }
        return try await withMirrorLock(url) {
            let mirror = try await createMirrorIfMissing(url: url)
            if try await git.hasCommit(commit, in: mirror.path) { return mirror }
            var fetchError: (any Error)?
            do {
                try await fetchAll(url: url, into: mirror)
            } catch {
                fetchError = error
            }
            if try await git.hasCommit(commit, in: mirror.path) { return mirror }
            // Servers that allow it serve a commit that no branch or tag names any more.
            let source = try Git.remote(fetchURL(url))
            let direct = try await git.execute(
                ["fetch", "--quiet", "--no-tags", Self.uploadPack, "--", source, "\(commit):refs/comfylock/\(commit)"],
                in: mirror.path)
            if direct.termination.isSuccess, try await git.hasCommit(commit, in: mirror.path) { return mirror }
            throw RuntimeError.commitNotFound(
                repository: GitURL.strippingCredentials(url), commit: commit, underlying: fetchError)
        }
    }

    /// Resolves `ref` (a branch, tag or full/abbreviated commit; nil = the remote's default branch) of `url` to a
    /// full commit hash, fetching the mirror first.
    public func resolve(url: String, ref: String?) async throws -> String {
        if let ref, GitCommitID.isFull(ref) {
            try await ensure(url: url, commit: ref)
            return ref
        }
        _ = try Git.remote(url)
        if let ref { _ = try Git.revision(ref) }
        return try await withMirrorLock(url) {
            let mirror = try await createMirrorIfMissing(url: url)
            try await fetchAll(url: url, into: mirror)
            let candidates: [String]
            if let ref {
                candidates = ["refs/tags/\(ref)", "refs/heads/\(ref)", ref]
            } else {
                let source = try Git.remote(fetchURL(url))
                let symref = try await git.execute(["ls-remote", "--symref", Self.uploadPack, "--", source, "HEAD"])
                let line = symref.output.split(separator: "\n").first { $0.hasPrefix("ref: ") }
                let head = line.flatMap { $0.dropFirst(5).split(separator: "\t").first }.map(String.init)
                candidates = [head, "refs/heads/main", "refs/heads/master"].compactMap { $0 }
            }
            for candidate in candidates {
                if let commit = try await git.commit(candidate, in: mirror.path) { return commit }
            }
            throw RuntimeError.refNotFound(repository: GitURL.strippingCredentials(url), ref: ref ?? "HEAD")
        }
    }

    /// Creates a work tree of `url` at exactly `commit` in `destination` (which must not exist): a local clone of
    /// the mirror (objects hard-linked), `origin` set to `url` without credentials, HEAD detached at `commit` and
    /// verified with `rev-parse`.
    public func checkout(url: String, commit: String, into destination: URL) async throws {
        let mirror = try await ensure(url: url, commit: commit)
        guard !FileManager.default.fileExists(atPath: destination.path) else {
            throw RuntimeError.alreadyExists("\(destination.path) already exists")
        }
        try FileManager.default.createDirectory(
            at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try await git.run(["clone", "--quiet", "--local", "--no-checkout", "--", mirror.path, destination.path])
        try await git.run(
            ["remote", "set-url", "--", "origin", GitURL.strippingCredentials(url)], in: destination.path)
        // `checkout` reads a `--` as "paths follow"; the commit is 40 hex (checked by `ensure`), never an option.
        try await git.run(["checkout", "--quiet", "--detach", try Git.revision(commit), "--"], in: destination.path)
        let head = try await git.head(in: destination.path)
        guard head == commit else {
            throw RuntimeError.checkoutMismatch(path: destination.path, expected: commit, actual: head)
        }
    }

    /// The URL actually fetched from (after mirror rewriting).
    public func fetchURL(_ url: String) -> String { rewriter.rewrite(url, kind: .git) }

    private func createMirrorIfMissing(url: String) async throws -> URL {
        let mirror = mirrorPath(for: url)
        if FileManager.default.fileExists(atPath: mirror.appendingPathComponent("HEAD").path) { return mirror }
        let staging = directory.appendingPathComponent(".tmp-\(GitURL.cacheKey(url))-\(UUID().uuidString.prefix(8))")
        do {
            try await git.run(["init", "--quiet", "--bare", "--", staging.path])
            try await git.run(
                ["config", "--", "remote.origin.url", GitURL.strippingCredentials(url)], in: staging.path)
            try await git.run(["config", "--", "gc.autoDetach", "false"], in: staging.path)
            try await fetchAll(url: url, into: staging)
            if rename(staging.path, mirror.path) != 0 {
                // Someone else (another process) finished first: keep theirs.
                try? FileManager.default.removeItem(at: staging)
            }
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
        return mirror
    }

    private func fetchAll(url: String, into mirror: URL) async throws {
        let source = try Git.remote(fetchURL(url))
        try await git.run(
            [
                "fetch", "--quiet", "--prune", "--no-tags", Self.uploadPack, "--", source, "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ], in: mirror.path)
    }

    /// Names the remote program explicitly, so no `remote.*.uploadpack` from any configuration is used.
    static let uploadPack = "--upload-pack=git-upload-pack"

    private func withMirrorLock<T: Sendable>(_ url: String, _ body: () async throws -> T) async throws -> T {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try await FileLock.withLock(
            at: directory.appendingPathComponent(GitURL.cacheKey(url) + ".lock").path, body)
    }
}
