import ComfyCrypto
public import ComfyLock
public import ComfyModels
import ComfySupport
public import ComfyTransport
public import Foundation
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The tree hash of an extracted registry node: SHA-256 over `comfylock-tree-v1\n` and one line per regular file,
/// sorted by path bytes — `<x|-> <sha256> <path>\n` (`x`: any execute bit). Directories are implied (empty ones do
/// not count); `__pycache__` directories and `*.pyc` files are skipped (ComfyUI writes them at run time). A symlink
/// or any other file type in the tree is an error: extraction never makes one, so its presence is drift.
public enum RegistryTree {
    /// The tree hash (64 lowercase hex) of `directory`.
    public static func hash(directory: URL) throws -> String {
        var lines: [(path: [UInt8], line: String)] = []
        try walk(directory.path, relative: "", into: &lines)
        var hasher = SHA256()
        hasher.update(Array("comfylock-tree-v1\n".utf8))
        for entry in lines.sorted(by: { $0.path.lexicographicallyPrecedes($1.path) }) {
            hasher.update(Array(entry.line.utf8))
        }
        return hasher.finalize().hex
    }

    private static func walk(_ path: String, relative: String, into lines: inout [(path: [UInt8], line: String)]) throws
    {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw RuntimeError.invalidInput("cannot list \(Escaping.quoted(path))")
        }
        for name in names {
            let full = path + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(full, &info) == 0 else {
                throw RuntimeError.invalidInput("cannot stat \(Escaping.quoted(full))")
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if name == "__pycache__" { continue }
                try walk(full, relative: rel, into: &lines)
            case S_IFREG:
                if name.hasSuffix(".pyc") { continue }
                let sha = try SHA256.hashFile(atPath: full).digest.hex
                let exec = info.st_mode & 0o111 != 0 ? "x" : "-"
                lines.append((Array(rel.utf8), "\(exec) \(sha) \(rel)\n"))
            default:
                throw RuntimeError.invalidInput("\(Escaping.quoted(rel)) is not a regular file or directory")
            }
        }
    }
}

/// The Comfy Registry API (`GET {base}/nodes/{id}/versions/{version}` → `downloadUrl`). The base URL is an operator
/// setting (`--registry-url`, `COMFYLOCK_REGISTRY_URL`; default `https://api.comfy.org`); requests and downloads go
/// through the mirror rules (`URLRewriter`, kind `model`). Responses are untrusted: bounded (1 MiB), and the
/// download URL must pass the lock's download URL rule.
public struct ComfyRegistry: Sendable {
    /// The public registry.
    public static let defaultBaseURL = "https://api.comfy.org"
    /// The environment variable of the base URL.
    public static let environmentVariable = "COMFYLOCK_REGISTRY_URL"

    /// The API base URL (no trailing slash).
    public let baseURL: String
    /// Mirror rules.
    public let rewriter: URLRewriter
    let client: HTTPClient
    let logger: Logger

    /// A registry client.
    public init(
        baseURL: String = ComfyRegistry.defaultBaseURL, rewriter: URLRewriter = URLRewriter(),
        client: HTTPClient = .shared,
        logger: Logger = Logger(label: "comfylock.registry", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.rewriter = rewriter
        self.client = client
        self.logger = logger
    }

    /// The base URL from the environment (`COMFYLOCK_REGISTRY_URL`), else the default.
    public static func baseURL(
        fromEnvironment environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 } ?? defaultBaseURL
    }

    /// The archive URL of `id` at `version`.
    public func downloadURL(id: String, version: String) async throws -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        guard let idPart = id.addingPercentEncoding(withAllowedCharacters: allowed),
            let versionPart = version.addingPercentEncoding(withAllowedCharacters: allowed)
        else { throw RuntimeError.invalidInput("registry id or version cannot be encoded") }
        let api = rewriter.rewrite("\(baseURL)/nodes/\(idPart)/versions/\(versionPart)", kind: .model)
        guard let url = URL(string: api) else { throw RuntimeError.invalidConfiguration("bad registry URL \(api)") }
        logger.debug("registry lookup", metadata: ["id": "\(id)", "version": "\(version)"])
        let response = try await client.send(HTTPRequest(url: url, headers: ["Accept": "application/json"]))
        let shown = Redaction.redactURL(api)
        guard response.status == 200 else {
            throw RuntimeError.notFound(
                "registry node \(Escaping.quoted(id)) version \(Escaping.quoted(version)): \(shown) answered HTTP "
                    + "\(response.status)")
        }
        guard response.body.count <= 1 << 20 else {
            throw RuntimeError.invalidInput("\(shown): response larger than 1 MiB")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(Array(response.body)) } catch {
            throw RuntimeError.invalidInput("\(shown): not JSON (\(error))")
        }
        guard case .object(let members) = value, case .string(let download)? = members["downloadUrl"], !download.isEmpty
        else { throw RuntimeError.invalidInput("\(shown): the response has no downloadUrl") }
        if let (_, message) = LockValidator.checkURL(download, kind: .download) {
            throw RuntimeError.invalidInput("\(shown): refused downloadUrl \(Escaping.quoted(download)): \(message)")
        }
        return download
    }
}

/// Registry nodes: pinning (archive URL from the registry, archive SHA-256 and tree hash by downloading and
/// extracting once) and placing (archive from the store or its URL, verified, extracted safely into a staging
/// directory beside the target, tree hash checked, renamed into place).
public struct RegistryNodeInstaller: Sendable {
    /// Where archives are cached (blobs by SHA-256).
    public let store: ModelStore
    /// Mirror rules for archive downloads.
    public let rewriter: URLRewriter
    /// Extraction limits.
    public let limits: ZipLimits

    /// An installer.
    public init(store: ModelStore, rewriter: URLRewriter = URLRewriter(), limits: ZipLimits = ZipLimits()) {
        self.store = store
        self.rewriter = rewriter
        self.limits = limits
    }

    /// Fills in `url` (from `registry` when absent), `sha256` and `treeHash` of a registry node.
    public func pin(_ node: CustomNode, registry: ComfyRegistry) async throws -> CustomNode {
        guard node.kind == .registry, let id = node.registryId, let version = node.version else {
            throw RuntimeError.invalidInput(
                "custom node \(Escaping.quoted(node.name)) is not a registry node with id and version")
        }
        let archiveURL: String
        if let url = node.url {
            archiveURL = url
        } else {
            archiveURL = try await registry.downloadURL(id: id, version: version)
        }
        guard let fetchURL = URL(string: rewriter.rewrite(archiveURL, kind: .model)) else {
            throw RuntimeError.invalidInput("bad archive URL \(Escaping.quoted(archiveURL))")
        }
        let (sha256, _) = try await store.adopt(url: fetchURL)
        if let expected = node.sha256, expected != sha256 {
            throw RuntimeError.invalidInput(
                "registry node \(Escaping.quoted(node.name)): the archive has sha256 \(sha256), the lock says \(expected)"
            )
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "comfylock-registry-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let blob = store.blobURL(sha256: sha256).path
        let limits = self.limits
        let tree = try await BlockingPool.shared.run { () throws -> String in
            do { _ = try ZipArchive.extract(blob, into: scratch, limits: limits) } catch let error as ZipError {
                throw RuntimeError.invalidInput(
                    "registry node \(Escaping.quoted(node.name)): archive refused: \(error)")
            }
            return try RegistryTree.hash(directory: scratch)
        }
        var pinned = node
        pinned.url = archiveURL
        pinned.sha256 = sha256
        pinned.treeHash = tree
        return pinned
    }

    /// Places a pinned registry node at `target` (which must not exist): never a partial tree at the target.
    public func place(_ node: CustomNode, at target: URL) async throws {
        guard let sha256 = node.sha256, let treeHash = node.treeHash else {
            throw RuntimeError.invalidInput(
                "registry node \(Escaping.quoted(node.name)) is not pinned (no sha256/treeHash); run "
                    + "`comfy-cli lock pin-registry LOCK` first")
        }
        let sources = node.url.map { [rewriter.rewrite($0, kind: .model)] } ?? []
        let (blob, _) = try await store.ensureBlob(sha256: sha256, sources: sources)
        let staging = target.deletingLastPathComponent().appendingPathComponent(
            ".\(target.lastPathComponent).\(getpid())-\(UInt32.random(in: 0...UInt32.max)).partial")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        let limits = self.limits
        do {
            let actual = try await BlockingPool.shared.run { () throws -> String in
                do { _ = try ZipArchive.extract(blob.path, into: staging, limits: limits) } catch let error as ZipError
                {
                    throw RuntimeError.invalidInput(
                        "registry node \(Escaping.quoted(node.name)): archive refused: \(error)")
                }
                return try RegistryTree.hash(directory: staging)
            }
            guard actual == treeHash else {
                throw RuntimeError.invalidInput(
                    "registry node \(Escaping.quoted(node.name)): the extracted tree hash is \(actual), the lock says \(treeHash)"
                )
            }
            guard rename(staging.path, target.path) == 0 else {
                throw RuntimeError.alreadyExists(
                    "cannot rename into \(target.path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
    }
}
