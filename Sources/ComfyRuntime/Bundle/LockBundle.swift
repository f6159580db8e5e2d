import ComfyCrypto
public import ComfyLock
public import ComfyModels
import ComfySupport
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One entry of an offline bundle.
public struct BundleEntry: Codable, Sendable, Hashable {
    /// The tar member name.
    public var name: String
    /// What it is: `lock`, `signature`, `git`, `blob` (model or registry archive), `wheel`.
    public var kind: String
    /// Its size in bytes.
    public var size: Int64
    /// Its SHA-256.
    public var sha256: String
    /// `git`: the repository URL the lock names; `wheel`: the artifact file name.
    public var url: String?
    /// `git`: the pinned commit.
    public var commit: String?
    /// `wheel`: the artifact's file name.
    public var filename: String?
}

/// The first member of a bundle (`comfylock-bundle.json`): the lock digest and every other entry with its hash.
public struct BundleManifest: Codable, Sendable {
    /// `comfylock-bundle/1`.
    public var format: String
    /// The digest of the bundled lock.
    public var lockDigest: String
    /// The entries after the manifest, in tar order.
    public var entries: [BundleEntry]
}

/// Offline bundles: one tar with the lock (and its signature), git bundles of ComfyUI and every git node at their
/// pinned commits, registry archives, the lock's Python artifacts, and optionally the models — everything
/// `version create` needs with no network. Written and read as a stream (1 MiB chunks); every entry is checked
/// against the manifest (name, size, sha256) and the manifest against the lock (blobs and wheels are named by the
/// lock's own sha256; git bundles must yield the pinned commit; the lock digest must match).
public enum LockBundle {
    /// The manifest member name.
    public static let manifestName = "comfylock-bundle.json"
    /// The format tag.
    public static let format = "comfylock-bundle/1"

    /// What a bundle holds once extracted.
    public struct Extracted: Sendable {
        /// The bundled lock file.
        public var lockPath: String
        /// Its signature, when bundled.
        public var signaturePath: String?
        /// Repository URL → git bundle file.
        public var gitBundles: [String: String]
        /// The directory of the Python artifacts (a wheelhouse).
        public var wheelhouse: URL
        /// The manifest.
        public var manifest: BundleManifest
    }

    /// Writes `output` (via a partial file renamed into place). Network is used here (to fill the store and git
    /// cache), never when deploying from the bundle.
    public static func create(
        lockBytes: [UInt8], signature: String?, withModels: Bool, store: ModelStore, gitCache: GitCache, output: String
    ) async throws -> BundleManifest {
        let lock = try LockFile.decode(lockBytes)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "comfylock-bundle-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var entries: [BundleEntry] = []
        var files: [String: String] = [:]  // entry name → file to stream
        entries.append(
            BundleEntry(
                name: "lock.json", kind: "lock", size: Int64(lockBytes.count), sha256: SHA256.hash(lockBytes).hex))
        if let signature {
            let bytes = Array(signature.utf8)
            entries.append(
                BundleEntry(
                    name: "lock.json.minisig", kind: "signature", size: Int64(bytes.count),
                    sha256: SHA256.hash(bytes).hex))
        }
        // Git: ComfyUI and every git node, each a git bundle of the pinned commit.
        var pins = [(lock.comfyui.url, lock.comfyui.commit)]
        pins += lock.customNodes.compactMap { node in
            node.kind == .git ? node.url.flatMap { url in node.commit.map { (url, $0) } } : nil
        }
        for (url, commit) in pins {
            let mirror = try await gitCache.ensure(url: url, commit: commit)
            let ref = "refs/comfylock/\(commit)"
            try await gitCache.git.run(["update-ref", "--", ref, try Git.revision(commit)], in: mirror.path)
            let key = SHA256.hash(Array("\(url)\n\(commit)".utf8)).hex
            let file = scratch.appendingPathComponent("\(key).bundle").path
            try await gitCache.git.run(["bundle", "create", file, ref], in: mirror.path)
            let (digest, size) = try SHA256.hashFile(atPath: file)
            let name = "git/\(key).bundle"
            entries.append(
                BundleEntry(name: name, kind: "git", size: size, sha256: digest.hex, url: url, commit: commit))
            files[name] = file
        }
        // Blobs: registry archives, and the models when asked.
        var blobs: [(sha256: String, size: Int64?, sources: [String])] = lock.customNodes.compactMap { node in
            node.kind == .registry ? node.sha256.map { ($0, nil, node.url.map { [$0] } ?? []) } : nil
        }
        if withModels { blobs += lock.models.map { ($0.sha256, $0.size, $0.sources) } }
        var seen: Set<String> = []
        for blob in blobs where seen.insert(blob.sha256).inserted {
            let sources = blob.sources.map { gitCache.rewriter.rewrite($0, kind: .model) }
            let (url, _) = try await store.ensureBlob(sha256: blob.sha256, size: blob.size, sources: sources)
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int64 ?? 0
            let name = "blobs/\(blob.sha256)"
            entries.append(BundleEntry(name: name, kind: "blob", size: size, sha256: blob.sha256))
            files[name] = url.path
        }
        // Python artifacts (every pinned artifact, fetched into the store by sha256).
        for package in lock.python?.packages ?? [] {
            for artifact in package.artifacts where seen.insert(artifact.sha256).inserted {
                let source = gitCache.rewriter.rewrite(artifact.url, kind: .package)
                let (url, _) = try await store.ensureBlob(sha256: artifact.sha256, sources: [source])
                let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int64 ?? 0
                let name = "wheels/\(artifact.sha256)"
                entries.append(
                    BundleEntry(
                        name: name, kind: "wheel", size: size, sha256: artifact.sha256, filename: artifact.filename))
                files[name] = url.path
            }
        }
        let manifest = BundleManifest(format: format, lockDigest: LockFile.digest(lock), entries: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifestBytes = Array(try encoder.encode(manifest))
        let partial = AtomicFile.partialPath(for: output)
        do {
            let writer = try TarWriter(path: partial)
            try writer.add(name: manifestName, bytes: manifestBytes)
            for entry in entries {
                switch entry.kind {
                case "lock": try writer.add(name: entry.name, bytes: lockBytes)
                case "signature": try writer.add(name: entry.name, bytes: Array((signature ?? "").utf8))
                default: try writer.add(name: entry.name, file: files[entry.name]!, size: entry.size)
                }
            }
            try writer.finish()
            guard rename(partial, output) == 0 else {
                throw RuntimeError.invalidInput("cannot rename into \(output): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(partial)
            throw error
        }
        return manifest
    }

    /// The manifest and the tar members with their sizes, without extracting (for `bundle inspect`).
    public static func inspect(
        _ path: String
    ) throws -> (manifest: BundleManifest, members: [(name: String, size: Int64)]) {
        let reader = try TarReader(path: path)
        let manifest = try readManifest(reader)
        var members: [(String, Int64)] = []
        while let (name, size) = try reader.next() {
            members.append((name, size))
            guard try reader.stream(size: size, { _ in }) else {
                throw RuntimeError.invalidInput("bundle entry \(Escaping.quoted(name)) is truncated")
            }
        }
        return (manifest, members)
    }

    static func readManifest(_ reader: TarReader) throws -> BundleManifest {
        guard let (name, size) = try reader.next(), name == manifestName else {
            throw RuntimeError.invalidInput("not a ComfyLock bundle: the first member is not \(manifestName)")
        }
        guard size <= 16 << 20 else { throw RuntimeError.invalidInput("\(manifestName) is larger than 16 MiB") }
        var bytes: [UInt8] = []
        guard try reader.stream(size: size, { bytes += $0 }) else {
            throw RuntimeError.invalidInput("bundle entry \(manifestName) is truncated")
        }
        let manifest: BundleManifest
        do { manifest = try JSONDecoder().decode(BundleManifest.self, from: Data(bytes)) } catch {
            throw RuntimeError.invalidInput("\(manifestName) is not a bundle manifest: \(error)")
        }
        guard manifest.format == format else {
            throw RuntimeError.invalidInput("unsupported bundle format \(Escaping.quoted(manifest.format))")
        }
        return manifest
    }

    /// Extracts and verifies a bundle into `directory` (must exist, empty): every member must be the manifest's
    /// next entry with its size and sha256; the lock must have the manifest's digest; blobs are imported into the
    /// store (verified by sha256 again); every git pin, registry archive and Python artifact of the lock (and, with
    /// `requireModels`, every model) must be present. Throws naming the entry for a truncated or altered bundle.
    public static func extract(_ path: String, into directory: URL, store: ModelStore) throws -> Extracted {
        let reader = try TarReader(path: path)
        let manifest = try readManifest(reader)
        var names: Set<String> = []
        for entry in manifest.entries {
            guard names.insert(entry.name).inserted else {
                throw RuntimeError.invalidInput("bundle manifest lists \(Escaping.quoted(entry.name)) twice")
            }
            guard SHA256Digest(hex: entry.sha256) != nil, !entry.name.contains(".."), !entry.name.hasPrefix("/"),
                ["lock.json", "lock.json.minisig"].contains(entry.name) || entry.name.hasPrefix("git/")
                    || entry.name.hasPrefix("blobs/") || entry.name.hasPrefix("wheels/")
            else {
                throw RuntimeError.invalidInput("bundle manifest entry \(Escaping.quoted(entry.name)) is not allowed")
            }
        }
        let wheelhouse = directory.appendingPathComponent("wheels")
        let gitDir = directory.appendingPathComponent("git")
        let work = directory.appendingPathComponent("tmp")
        for dir in [wheelhouse, gitDir, work] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        var extracted = Extracted(
            lockPath: directory.appendingPathComponent("lock.json").path, signaturePath: nil, gitBundles: [:],
            wheelhouse: wheelhouse, manifest: manifest)
        for entry in manifest.entries {
            guard let (name, size) = try reader.next() else {
                throw RuntimeError.invalidInput("the bundle lacks entry \(Escaping.quoted(entry.name)) (truncated?)")
            }
            guard name == entry.name, size == entry.size else {
                throw RuntimeError.invalidInput(
                    "bundle entry \(Escaping.quoted(name)) (\(size) bytes) is not the manifest's next entry "
                        + "\(Escaping.quoted(entry.name)) (\(entry.size) bytes)")
            }
            let target: URL
            switch entry.kind {
            case "lock": target = URL(fileURLWithPath: extracted.lockPath)
            case "signature":
                target = directory.appendingPathComponent("lock.json.minisig")
                extracted.signaturePath = target.path
            case "git": target = gitDir.appendingPathComponent(String(entry.sha256) + ".bundle")
            case "wheel":
                guard let filename = entry.filename,
                    LockValidator.checkComponent(filename, what: "filename", rule: "f") == nil
                else {
                    throw RuntimeError.invalidInput("bundle entry \(Escaping.quoted(name)) has no valid file name")
                }
                target = wheelhouse.appendingPathComponent(filename)
            default: target = work.appendingPathComponent(entry.sha256)
            }
            let fd = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw RuntimeError.invalidInput("cannot create \(target.path): \(String(cString: strerror(errno)))")
            }
            var hasher = SHA256()
            let complete: Bool
            do {
                defer { close(fd) }
                complete = try reader.stream(size: size) { chunk in
                    hasher.update(chunk)
                    do { try FileIO.writeAll(fd, chunk, path: target.path) } catch {
                        throw RuntimeError.invalidInput("\(error)")
                    }
                }
            }
            guard complete else {
                throw RuntimeError.invalidInput("bundle entry \(Escaping.quoted(name)) is truncated")
            }
            guard hasher.finalize().hex == entry.sha256 else {
                throw RuntimeError.invalidInput(
                    "bundle entry \(Escaping.quoted(name)) was altered (sha256 differs from the manifest)")
            }
            if entry.kind == "git", let url = entry.url { extracted.gitBundles[url] = target.path }
            if entry.kind == "blob" {
                _ = try store.importFile(at: target, expectedSHA256: entry.sha256)
                try? FileManager.default.removeItem(at: target)
            }
            if entry.kind == "wheel" { _ = try store.importFile(at: target, expectedSHA256: entry.sha256) }
        }
        // The lock is the root of trust: its digest, and everything it pins must be in the bundle.
        let lock = try LockFile.decode(try BoundedInput.read(extracted.lockPath, what: "lock"))
        guard LockFile.digest(lock) == manifest.lockDigest else {
            throw RuntimeError.invalidInput("bundle entry \"lock.json\" does not have the manifest's lock digest")
        }
        var missing: [String] = []
        let nodePins: [(String, String)] = lock.customNodes.compactMap { node in
            guard node.kind == .git, let url = node.url, let commit = node.commit else { return nil }
            return (url, commit)
        }
        for (url, commit) in [(lock.comfyui.url, lock.comfyui.commit)] + nodePins
        where !manifest.entries.contains(where: { $0.kind == "git" && $0.url == url && $0.commit == commit }) {
            missing.append("git \(url)@\(commit)")
        }
        for node in lock.customNodes where node.kind == .registry {
            if let sha = node.sha256, !store.containsBlob(sha256: sha) {
                missing.append("registry archive \(node.name)")
            }
        }
        for artifact in lock.python?.packages.flatMap(\.artifacts) ?? []
        where !store.containsBlob(sha256: artifact.sha256) {
            missing.append("python artifact \(artifact.filename)")
        }
        guard missing.isEmpty else {
            throw RuntimeError.invalidInput("the bundle lacks what the lock pins: " + missing.joined(separator: ", "))
        }
        guard try reader.next() == nil else {
            throw RuntimeError.invalidInput("the bundle has members after its manifest's entries")
        }
        return extracted
    }

    /// Mirror rules sending each bundled repository URL to its git bundle file (longest URL first).
    /// No other rule applies: nothing is fetched from anywhere else (models, archives and wheels are in the store).
    public static func rewriter(for extracted: Extracted) -> URLRewriter {
        let rules = extracted.gitBundles.sorted { $0.key.count > $1.key.count }.map {
            URLRewriter.Rule(prefix: $0.key, replacement: $0.value, kinds: [.git])
        }
        return URLRewriter(rules: rules, gitBase: nil)
    }
}
