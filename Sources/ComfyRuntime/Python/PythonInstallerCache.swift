internal import ComfyCrypto
public import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

/// The installers' own evidence of where an installed distribution came from, for `lock create` when the package
/// index cannot be reached: uv's cache, pip's HTTP cache and wheel cache, and wheel directories.
///
/// A distribution is resolved only when both its artifact URL and sha256 are evidenced and the wheel found is the one
/// installed (its `RECORD` hashes equal the installed `RECORD`'s, file for file):
/// - **uv** (`UV_CACHE_DIR`, `COMFYLOCK_UV_CACHE_DIR`, `~/.cache/uv`): the wheel pointer
///   `wheels-v*/<index>/<name>/<version>-<tags>.http|.msgpack` holds the wheel's file name, its sha256 and the URL
///   uv downloaded it from; the unpacked wheel in `archive-v0/<id>/` holds its `RECORD`.
/// - **pip** (`PIP_CACHE_DIR`, `~/.cache/pip`): the HTTP cache (`http-v2/`, keyed by SHA-224 of the URL) holds the
///   index's project page (file names, URLs, sha256) and the downloaded wheel body; the wheel's sha256 is computed
///   and its `RECORD` compared.
/// - **wheel files** (pip's `wheels/` cache of built wheels, `init --find-links` directories): found by exact file
///   name; their sha256 is computed and their `RECORD` compared, and the URL must come from one of the above.
///
/// Cache files are untrusted input: pointers are read bounded (1 MiB), pages and wheels by a Python helper with
/// size limits, and nothing found is believed unless the installed `RECORD` agrees.
public struct PythonInstallerCaches: Sendable, Hashable {
    /// uv cache roots.
    public var uv: [String]
    /// pip cache roots.
    public var pip: [String]
    /// Directories holding wheel files (searched two levels deep).
    public var wheelDirectories: [String]

    /// Caches at explicit locations.
    public init(uv: [String] = [], pip: [String] = [], wheelDirectories: [String] = []) {
        self.uv = uv
        self.pip = pip
        self.wheelDirectories = wheelDirectories
    }

    /// The default locations, from `environment` (the front end passes the process environment):
    /// `COMFYLOCK_UV_CACHE_DIR`, `UV_CACHE_DIR`, `$XDG_CACHE_HOME/uv`, `~/.cache/uv`; `PIP_CACHE_DIR`,
    /// `$XDG_CACHE_HOME/pip`, `~/.cache/pip` (the ones that exist).
    public static func fromEnvironment(_ environment: [String: String]) -> PythonInstallerCaches {
        let home = environment["HOME"].map { $0 + "/.cache" }
        let xdg = environment["XDG_CACHE_HOME"]
        func existing(_ paths: [String?]) -> [String] {
            var seen: [String] = []
            for case let path? in paths where !path.isEmpty && !seen.contains(path) {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    seen.append(path)
                }
            }
            return seen
        }
        return PythonInstallerCaches(
            uv: existing([
                environment["COMFYLOCK_UV_CACHE_DIR"], environment["UV_CACHE_DIR"], xdg.map { $0 + "/uv" },
                home.map { $0 + "/uv" },
            ]),
            pip: existing([environment["PIP_CACHE_DIR"], xdg.map { $0 + "/pip" }, home.map { $0 + "/pip" }]))
    }

    /// True when no cache or directory is configured.
    public var isEmpty: Bool { uv.isEmpty && pip.isEmpty && wheelDirectories.isEmpty }

    /// The artifact of `dist` evidenced by the caches, or nil with what was found and why it was not enough.
    /// `indexURLs` are the pages pip would have fetched; `python` runs the helper (the venv's interpreter).
    public func artifact(
        for dist: InstalledPythonPackage, indexURLs: [String], python: String
    ) async -> (artifact: PythonArtifact?, reason: String) {
        let installed = RecordEntries.installed(dist)
        guard !installed.isEmpty else { return (nil, "the installed RECORD is missing or lists no files") }
        var notes: [String] = []
        // 1. uv's wheel pointers (URL + sha256), verified against the unpacked wheel's RECORD.
        for root in uv {
            for pointer in UVCache.pointers(root: root, dist: dist) {
                guard let url = pointer.url, let sha256 = pointer.sha256 else {
                    notes.append("uv cache: \(pointer.filename) has no URL and hash (a local wheel)")
                    continue
                }
                guard let record = pointer.record else {
                    notes.append("uv cache: \(pointer.filename) has no unpacked wheel to compare with the RECORD")
                    continue
                }
                if let mismatch = RecordEntries.mismatch(wheel: RecordEntries.parse(record), installed: installed) {
                    notes.append("uv cache: \(pointer.filename) is not what is installed (\(mismatch))")
                    continue
                }
                return (PythonArtifact(url: Redaction.redactURL(url), sha256: sha256, filename: pointer.filename), "")
            }
        }
        // 2. pip's HTTP cache: the cached project page gives URL + sha256; the cached wheel body must match both.
        var listed: [PipFile] = []
        if !pip.isEmpty {
            let pages = indexURLs.map { ($0.hasSuffix("/") ? $0 : $0 + "/") + dist.name + "/" }
            listed = await PipHelper.pages(caches: pip, urls: pages, python: python).filter {
                Self.matches($0.filename, dist)
            }
        }
        for file in listed {
            guard let wheel = await PipHelper.cachedWheel(caches: pip, url: file.url, python: python) else {
                notes.append("pip cache: page lists \(file.filename) but the wheel itself is not cached")
                continue
            }
            guard wheel.sha256 == file.sha256 else {
                notes.append(
                    "pip cache: cached \(file.filename) has sha256 \(wheel.sha256.prefix(12))…, the page says \(file.sha256.prefix(12))…"
                )
                continue
            }
            if let mismatch = RecordEntries.mismatch(wheel: RecordEntries.parse(wheel.record), installed: installed) {
                notes.append("pip cache: \(file.filename) is not what is installed (\(mismatch))")
                continue
            }
            return (
                PythonArtifact(url: Redaction.redactURL(file.url), sha256: file.sha256, filename: file.filename), ""
            )
        }
        // 3. Wheel files by exact name (pip's built-wheel cache, wheel directories): sha256 + RECORD, no URL.
        let directories = wheelDirectories + pip.map { $0 + "/wheels" }
        for path in WheelFiles.find(in: directories, matching: dist) {
            guard let wheel = await PipHelper.wheel(at: path, python: python) else { continue }
            let name = (path as NSString).lastPathComponent
            if let mismatch = RecordEntries.mismatch(wheel: RecordEntries.parse(wheel.record), installed: installed) {
                notes.append("\(Escaping.quoted(path)) is not what is installed (\(mismatch))")
            } else {
                notes.append(
                    "\(Escaping.quoted(path)) is the installed wheel (sha256 \(wheel.sha256)) but no cache or index "
                        + "records a URL for \(name)")
            }
        }
        if notes.isEmpty {
            return (
                nil,
                "no installer cache holds \(dist.name) \(dist.version) (looked in "
                    + (uv + pip + wheelDirectories).map { Escaping.quoted($0) }.joined(separator: ", ") + ")"
            )
        }
        return (nil, notes.joined(separator: "; "))
    }

    /// A wheel file name of the dist's name and version. Tags are not compared: some wheels' `WHEEL` tags differ
    /// from their file name's (PyTorch's torchvision/torchaudio say `py3-none-linux_x86_64` in a
    /// `cp311-cp311-manylinux_2_28_x86_64` wheel); the `RECORD` comparison decides which wheel was installed.
    /// The exact file name of the wheel `dist` was installed from, when an installer cache or a wheel directory holds
    /// a wheel of that name whose `RECORD` equals the installed one (uv's pointer of a `--find-links` wheel names it
    /// without a URL or hash): the index is then asked for exactly that file.
    public func installedWheelFilename(for dist: InstalledPythonPackage, python: String) async -> String? {
        let installed = RecordEntries.installed(dist)
        guard !installed.isEmpty else { return nil }
        for root in uv {
            for pointer in UVCache.pointers(root: root, dist: dist) {
                if let record = pointer.record,
                    RecordEntries.mismatch(wheel: RecordEntries.parse(record), installed: installed) == nil
                {
                    return pointer.filename
                }
            }
        }
        for path in WheelFiles.find(in: wheelDirectories + pip.map { $0 + "/wheels" }, matching: dist) {
            if let wheel = await PipHelper.wheel(at: path, python: python),
                RecordEntries.mismatch(wheel: RecordEntries.parse(wheel.record), installed: installed) == nil
            {
                return (path as NSString).lastPathComponent
            }
        }
        return nil
    }

    static func matches(_ filename: String, _ dist: InstalledPythonPackage) -> Bool {
        guard let parsed = PythonNames.parseWheelFilename(filename) else { return false }
        return parsed.name == dist.name && PythonDriftCheck.versionsEqual(parsed.version, dist.version)
    }
}

/// The `(path, sha256)` entries of a `RECORD`, and the comparison of a wheel's with an installed one's.
enum RecordEntries {
    /// Entries with a sha256, excluding bytecode.
    static func parse(_ text: String) -> [String: String] {
        var entries: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = CSVLine.split(String(line))
            guard fields.count >= 2, !fields[0].isEmpty, fields[1].hasPrefix("sha256=") else { continue }
            if fields[0].hasSuffix(".pyc") { continue }
            entries[fields[0]] = String(fields[1].dropFirst(7))
        }
        return entries
    }

    /// The installed dist's RECORD entries (empty when unreadable).
    static func installed(_ dist: InstalledPythonPackage) -> [String: String] {
        guard let bytes = try? BoundedInput.read(dist.distInfo + "/RECORD", limits: InputLimits(maxBytes: 64 << 20))
        else { return [:] }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Nil when the wheel's files are exactly the installed ones (same paths, same hashes), ignoring the dist-info
    /// (installers add INSTALLER/REQUESTED/direct_url.json) and files moved out of site-packages (`.data/`,
    /// `../../bin/…` scripts, whose shebang the installer rewrites); else what differs.
    static func mismatch(wheel: [String: String], installed: [String: String]) -> String? {
        func payload(_ entries: [String: String]) -> [String: String] {
            entries.filter { path, _ in
                let first = path.split(separator: "/").first.map(String.init) ?? path
                return !first.hasSuffix(".dist-info") && !first.hasSuffix(".data") && !path.hasPrefix("../")
                    && !path.hasPrefix("/")
            }
        }
        let w = payload(wheel)
        let i = payload(installed)
        guard !w.isEmpty else { return "the wheel's RECORD lists no files" }
        guard !i.isEmpty else { return "the installed RECORD is missing or lists no files" }
        if let path = w.keys.sorted().first(where: { i[$0] == nil }) {
            return "\(Escaping.quoted(path)) is not installed"
        }
        if let path = i.keys.sorted().first(where: { w[$0] == nil }) {
            return "\(Escaping.quoted(path)) is not in the wheel"
        }
        if let path = w.keys.sorted().first(where: { w[$0] != i[$0] }) {
            return "\(Escaping.quoted(path)) differs from the installed file"
        }
        return nil
    }
}

/// uv's cache: wheel pointers and unpacked archives.
enum UVCache {
    struct Pointer {
        var filename: String
        var sha256: String?
        var url: String?
        var record: String?
    }

    /// The pointers of `dist` under `root/wheels-v*/…/<name>/` whose file name matches the dist's tags.
    static func pointers(root: String, dist: InstalledPythonPackage) -> [Pointer] {
        let fm = FileManager.default
        var found: [Pointer] = []
        let buckets = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("wheels-v") }.sorted()
        for bucket in buckets {
            // wheels-vN/pypi/<name>/, wheels-vN/index/<hash>/<name>/, wheels-vN/url/<hash>/<name>/ …
            var directories: [String] = []
            var frontier = [root + "/" + bucket]
            for _ in 0..<3 {
                var next: [String] = []
                for dir in frontier {
                    for entry in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                        let path = dir + "/" + entry
                        var isDirectory: ObjCBool = false
                        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                            continue
                        }
                        if entry == dist.name { directories.append(path) } else { next.append(path) }
                    }
                }
                frontier = Array(next.prefix(10_000))
            }
            for dir in directories {
                let files = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter {
                    ($0.hasSuffix(".http") || $0.hasSuffix(".msgpack") || $0.hasSuffix(".rev"))
                        && $0.hasPrefix(dist.version + "-")
                }
                for file in files.sorted() {
                    guard let bytes = try? BoundedInput.read(dir + "/" + file, limits: InputLimits(maxBytes: 1 << 20))
                    else { continue }
                    if let pointer = parse(bytes, root: root, dist: dist) { found.append(pointer) }
                }
            }
        }
        return found
    }

    /// Reads a pointer (msgpack: archive id, hashes, file name, then the HTTP cache policy with the URL) by its
    /// strings: the `.whl` name matching the dist, a 64-hex sha256, a URL ending in that name, an archive id naming
    /// a directory of `archive-v0`.
    static func parse(_ bytes: [UInt8], root: String, dist: InstalledPythonPackage) -> Pointer? {
        let strings = printableRuns(bytes)
        var filename: String?
        var sha256: String?
        var url: String?
        var archive: String?
        for run in strings {
            // msgpack puts a length byte before each string, and it may be printable ("4torchaudio-…whl" for 52
            // bytes): try the candidate from each of its first characters.
            if filename == nil,
                let range = run.range(of: #"[A-Za-z0-9_.+]+-[^\s"'<>/]+?\.whl"#, options: .regularExpression)
            {
                let candidate = String(run[range])
                for drop in 0..<min(4, candidate.count) {
                    let name = String(candidate.dropFirst(drop))
                    if PythonInstallerCaches.matches(name, dist) {
                        filename = name
                        break
                    }
                }
            }
            if sha256 == nil, let range = run.range(of: "[0-9a-f]{64}", options: .regularExpression) {
                sha256 = String(run[range])
            }
            // The URL is followed by other cache-policy strings in the same run (an ETag, for one): cut at `.whl`.
            if url == nil, let range = run.range(of: #"https?://[^\s"'<>\\]+?\.whl"#, options: .regularExpression) {
                url = String(run[range])
            }
            if archive == nil {
                for token in run.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
                where token.count >= 12 && token.count <= 64 {
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: root + "/archive-v0/" + token, isDirectory: &isDirectory),
                        isDirectory.boolValue
                    {
                        archive = String(token)
                        break
                    }
                }
            }
        }
        guard let filename else { return nil }
        if let found = url, let hash = found.firstIndex(of: "#") { url = String(found[..<hash]) }
        if let found = url, PythonNames.filename(ofURL: found).removingPercentEncoding != filename,
            PythonNames.filename(ofURL: found) != filename
        {
            url = nil
        }
        var record: String?
        if let archive {
            let file = root + "/archive-v0/" + archive + "/" + (dist.distInfo as NSString).lastPathComponent + "/RECORD"
            if let bytes = try? BoundedInput.read(file, limits: InputLimits(maxBytes: 64 << 20)) {
                record = String(decoding: bytes, as: UTF8.self)
            }
        }
        return Pointer(filename: filename, sha256: sha256, url: url, record: record)
    }

    /// Runs of printable ASCII (space to `~`) of at least 8 bytes.
    static func printableRuns(_ bytes: [UInt8]) -> [String] {
        var runs: [String] = []
        var current: [UInt8] = []
        for byte in bytes + [0] {
            if byte >= 0x20 && byte < 0x7F {
                current.append(byte)
            } else {
                if current.count >= 8 { runs.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            }
        }
        return runs
    }
}

/// Wheel files found by exact name in directories.
enum WheelFiles {
    static func find(in directories: [String], matching dist: InstalledPythonPackage) -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        for root in directories {
            var frontier = [root]
            for depth in 0..<6 {
                var next: [String] = []
                for dir in frontier {
                    for entry in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
                        let path = dir + "/" + entry
                        if entry.hasSuffix(".whl") {
                            if PythonInstallerCaches.matches(entry, dist) { found.append(path) }
                        } else if depth < 5 {
                            var isDirectory: ObjCBool = false
                            if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                                next.append(path)
                            }
                        }
                    }
                }
                frontier = Array(next.prefix(10_000))
                if frontier.isEmpty { break }
            }
        }
        return found
    }
}

/// One file of a cached project page.
struct PipFile: Hashable {
    var filename: String
    var url: String
    var sha256: String
}

/// A wheel's sha256 and RECORD text.
struct WheelEvidence {
    var sha256: String
    var record: String
}

/// Reads pip's HTTP cache and wheel archives with the venv's own Python (`-I`: isolated): SHA-224 cache keys,
/// zip members, bounded sizes (pages 16 MiB, RECORD 64 MiB), no extraction to disk.
enum PipHelper {
    static let script = """
        import hashlib, io, json, os, re, sys, zipfile
        from html.parser import HTMLParser
        from urllib.parse import urljoin, urlsplit
        req = json.load(sys.stdin)
        def key(url):
            s = urlsplit(url)
            path = s.path or "/"
            uri = s.scheme.lower() + "://" + s.netloc.lower() + (path + "?" + s.query if s.query else path)
            return hashlib.sha224(uri.encode()).hexdigest()
        def cached_body(cache, url, limit):
            # pip >= 23.3: http-v2/<5 dirs>/<key>.body; older pip: http/<5 dirs>/<key> ("cc=4," + msgpack, body inline).
            h = key(url)
            new = os.path.join(cache, "http-v2", *h[:5], h) + ".body"
            if os.path.isfile(new):
                return new if os.path.getsize(new) <= limit else None
            old = os.path.join(cache, "http", *h[:5], h)
            if not os.path.isfile(old) or os.path.getsize(old) > limit:
                return None
            try:
                from pip._vendor import msgpack
            except ImportError:
                return None
            with open(old, "rb") as f:
                data = f.read(limit + 1)
            if not data.startswith(b"cc=4,"):
                return None
            try:
                body = msgpack.loads(data[5:], raw=False)["response"]["body"]
            except Exception:
                return None
            import io
            return io.BytesIO(body)
        def bounded(source, limit):
            if source is None:
                return None
            if hasattr(source, "read"):
                return source.read(limit + 1)
            with open(source, "rb") as f:
                return f.read(limit + 1)
        def wheel(source):
            h = hashlib.sha256()
            if hasattr(source, "getvalue"):
                data = source.getvalue()
                h.update(data)
                source = io.BytesIO(data)
            else:
                with open(source, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            with zipfile.ZipFile(source) as z:
                names = [n for n in z.namelist() if re.fullmatch(r"[^/]+\\.dist-info/RECORD", n)]
                if len(names) != 1 or z.getinfo(names[0]).file_size > 64 << 20:
                    return None
                return {"sha256": h.hexdigest(), "record": z.read(names[0]).decode("utf-8", "replace")}
        class Anchors(HTMLParser):
            def __init__(self, base):
                super().__init__(); self.base = base; self.href = None; self.files = []
            def handle_starttag(self, tag, attrs):
                if tag == "a": self.href = dict(attrs).get("href")
            def handle_data(self, data):
                if self.href and data.strip():
                    url, _, frag = self.href.partition("#")
                    sha = frag[7:].lower() if frag.startswith("sha256=") else None
                    if sha: self.files.append({"filename": data.strip(), "url": urljoin(self.base, url), "sha256": sha})
                    self.href = None
        out = {}
        if req["mode"] == "pages":
            files = []
            for cache in req["caches"]:
                for url in req["urls"]:
                    body = bounded(cached_body(cache, url, 16 << 20), 16 << 20)
                    if body is None: continue
                    text = body.decode("utf-8", "replace")
                    try:
                        doc = json.loads(text)
                        for f in doc.get("files", []):
                            sha = (f.get("hashes") or {}).get("sha256")
                            if sha: files.append({"filename": f["filename"], "url": urljoin(url, f["url"]), "sha256": sha.lower()})
                    except ValueError:
                        p = Anchors(url); p.feed(text); files += p.files
            out["files"] = files
        elif req["mode"] == "body":
            for cache in req["caches"]:
                source = cached_body(cache, req["url"], 4 << 30)
                if source is not None:
                    try:
                        out = wheel(source) or {}
                    except Exception:
                        out = {}
                    if out: break
        elif req["mode"] == "wheel":
            try:
                out = wheel(req["path"]) or {}
            except Exception:
                out = {}
        print(json.dumps(out))
        """

    static func run(_ request: [String: Any], python: String) async -> [String: Any]? {
        guard let input = try? JSONSerialization.data(withJSONObject: request) else { return nil }
        guard
            let result = try? await ProcessRunner.run(
                ProcessCommand(python, ["-I", "-c", script], standardInput: Array(input), timeout: .seconds(300))),
            let data = result.output.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object
    }

    static func pages(caches: [String], urls: [String], python: String) async -> [PipFile] {
        guard let out = await run(["mode": "pages", "caches": caches, "urls": urls], python: python),
            let files = out["files"] as? [[String: String]]
        else { return [] }
        return files.compactMap { file in
            guard let name = file["filename"], let url = file["url"], let sha = file["sha256"], sha.count == 64 else {
                return nil
            }
            return PipFile(filename: name, url: url, sha256: sha)
        }
    }

    static func cachedWheel(caches: [String], url: String, python: String) async -> WheelEvidence? {
        evidence(await run(["mode": "body", "caches": caches, "url": url], python: python))
    }

    static func wheel(at path: String, python: String) async -> WheelEvidence? {
        evidence(await run(["mode": "wheel", "path": path], python: python))
    }

    private static func evidence(_ out: [String: Any]?) -> WheelEvidence? {
        guard let out, let sha = out["sha256"] as? String, let record = out["record"] as? String else { return nil }
        return WheelEvidence(sha256: sha, record: record)
    }
}
