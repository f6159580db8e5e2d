import ComfyLock
import ComfyModels
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// The venv's stat cache (issue 18 P4b): `version create` records every installed file, `version status` re-hashes
/// only what changed since, `--deep` re-hashes everything. Real venvs built with uv from wheels the test builds.
@Suite("Venv stat cache (version create records, status re-hashes only changed files)")
struct VenvStatCacheTests {
    /// One built version with pinned packages, and what its venv holds.
    struct Built {
        let fixture: RuntimeFixture
        let wheels: PythonFixture
        let python: RuntimePythonEnvironment
        let lock: Lock
        let dir: URL
        var venv: URL { dir.appendingPathComponent("venv") }

        func packages() throws -> [InstalledPythonPackage] {
            try PythonInstallation.packages(in: PythonVirtualEnvironment(existingAt: venv.path))
                .filter { ["alpha", "shared"].contains($0.name) }
        }

        func check(_ mode: VenvFileCheck) throws -> VenvFileChecker.Counts {
            VenvFileChecker.check(venvRoot: venv.standardizedFileURL.path, packages: try packages(), mode: mode).counts
        }

        /// A file of `alpha` listed in its RECORD.
        func alphaFile() throws -> URL {
            let site = try #require(
                FileManager.default.enumerator(atPath: venv.path)?.allObjects.compactMap { $0 as? String }
                    .first { $0.hasSuffix("site-packages/alpha/__init__.py") })
            return venv.appendingPathComponent(site)
        }
    }

    static func build() async throws -> Built {
        let fixture = try RuntimeFixture()
        let wheels = try PythonFixture(serve: false)
        let python = RuntimePythonEnvironment(
            environment: ProcessInfo.processInfo.environment.merging([
                "COMFYLOCK_UV": TestPaths.testVenv.appendingPathComponent("bin/uv").path,
                "COMFYLOCK_UV_CACHE_DIR": wheels.temp.appending("uv-cache").path,
            ]) { $1 })
        var lock = fixture.lock()
        lock.python = wheels.pins(["alpha": "1.0", "shared": "1.0"])
        let options = VersionCreateOptions(
            python: PythonBuildOptions(
                offline: true, wheelhouse: wheels.index.files.path, python: TestPaths.python.path))
        _ = try await VersionBuilder(
            root: fixture.versions, gitCache: fixture.gitCache, store: fixture.modelStore, python: python
        ).create(name: "v", lock: lock, options: options)
        return Built(
            fixture: fixture, wheels: wheels, python: python, lock: lock,
            dir: fixture.versions.appendingPathComponent("v"))
    }

    /// Overwrites `url` with `bytes` in place (same inode) and sets its mtime back to what it was.
    static func editKeepingMtime(_ url: URL, _ bytes: [UInt8]) throws {
        var before = stat()
        #expect(stat(url.path, &before) == 0)
        // Installed files may be read-only; the test runs as root, or makes them writable.
        chmod(url.path, 0o644)
        let fd = open(url.path, O_WRONLY)
        #expect(fd >= 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        close(fd)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, url.path, &times, 0) == 0)
        var after = stat()
        #expect(stat(url.path, &after) == 0)
        #expect(after.st_size == before.st_size && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
    }

    @Test("create records every file; status reads none; a same-size edit with mtime restored is caught and restored")
    func recordsAndCatchesEdits() async throws {
        let built = try await Self.build()
        defer { built.wheels.close() }
        let cacheFile = built.venv.appendingPathComponent(VenvStatCache.fileName)
        #expect(FileManager.default.fileExists(atPath: cacheFile.path))
        let inspector = VersionInspector(store: built.fixture.modelStore, python: built.python)
        #expect(try await inspector.status(directory: built.dir, lock: built.lock).clean)
        // Every RECORD file of the pinned packages is answered from the cache: nothing is read again.
        let warm = try built.check(.statCache)
        #expect(warm.cached > 2 && warm.hashed == 0 && warm.sizeOnly == 0, "\(warm)")

        // One byte changed, size and mtime kept: the size check alone would pass; ctime moved, so it is re-hashed.
        let file = try built.alphaFile()
        let original = Array(try Data(contentsOf: file))
        var edited = original
        edited[0] = edited[0] == 0x23 ? 0x24 : 0x23
        try Self.editKeepingMtime(file, edited)
        let status = try await inspector.status(directory: built.dir, lock: built.lock)
        #expect(
            status.drift.contains {
                $0.area == "python" && $0.subject == "alpha" && $0.problem == "files changed since install"
                    && ($0.actual ?? "").contains("sha256 differs")
            }, "\(status.drift)")
        #expect(try built.check(.statCache).hashed == 1)

        // The original bytes back (mtime kept again): re-hashed once, matches RECORD, recorded, then cached again.
        try Self.editKeepingMtime(file, original)
        // Past the racy window, so the re-hash is recorded.
        try await Task.sleep(for: .milliseconds(120))
        #expect(try await inspector.status(directory: built.dir, lock: built.lock).clean)
        let again = try built.check(.statCache)
        #expect(again.hashed == 0 && again.cached == warm.cached, "\(again)")
    }

    @Test("--deep re-hashes every file; a version without a cache gets the size check, and --deep fills the cache")
    func deepAndMissingCache() async throws {
        let built = try await Self.build()
        defer { built.wheels.close() }
        let total = try built.check(.statCache).cached
        #expect(try built.check(.deep).hashed == total)
        let deep = VersionInspector.forStatus(store: built.fixture.modelStore, python: built.python, deep: true)
        #expect(try await deep.status(directory: built.dir, lock: built.lock).clean)

        try FileManager.default.removeItem(at: built.venv.appendingPathComponent(VenvStatCache.fileName))
        let legacy = try built.check(.statCache)
        #expect(legacy.sizeOnly == total && legacy.hashed == 0 && legacy.cached == 0, "\(legacy)")
        // A size change is still caught without a cache.
        let file = try built.alphaFile()
        let original = try Data(contentsOf: file)
        chmod(file.path, 0o644)
        try (original + Data("# more\n".utf8)).write(to: file)
        let status = try await VersionInspector(store: built.fixture.modelStore, python: built.python)
            .status(directory: built.dir, lock: built.lock)
        #expect(status.drift.contains { $0.subject == "alpha" && ($0.actual ?? "").contains("size differs") })
        try original.write(to: file)
        try await Task.sleep(for: .milliseconds(120))
        #expect(try built.check(.deep).recorded == total)
        #expect(try built.check(.statCache).cached == total)
    }

    /// What a stat cache cannot catch, shown rather than claimed: it trusts its own entries, so whoever can rewrite
    /// a file AND the cache (anyone with write access to the venv) passes the default check; `--deep` does not use
    /// the cache and catches it.
    @Test("limit: an edit whose cache entry was rewritten to match passes the default check; --deep catches it")
    func limitOfTheCache() async throws {
        let built = try await Self.build()
        defer { built.wheels.close() }
        let file = try built.alphaFile()
        var bytes = Array(try Data(contentsOf: file))
        bytes[0] = bytes[0] == 0x23 ? 0x24 : 0x23
        try Self.editKeepingMtime(file, bytes)
        // Forge the entry: the new stat with the RECORD hash it no longer matches.
        let root = built.venv.standardizedFileURL.path
        var cache = VenvStatCache(venvRoot: root)
        let key = try #require(cache.entries.keys.first { $0.hasSuffix("site-packages/alpha/__init__.py") })
        let st = try #require(try FileStat.of(path: file.path))
        cache.record(key, st, recordHash: try #require(cache.entries[key]).recordHash)
        cache.save()
        let inspector = VersionInspector(store: built.fixture.modelStore, python: built.python)
        #expect(try await inspector.status(directory: built.dir, lock: built.lock).clean)
        let deep = VersionInspector.forStatus(store: built.fixture.modelStore, python: built.python, deep: true)
        #expect(try await !deep.status(directory: built.dir, lock: built.lock).clean)
    }

    @Test("RECORD parsing: quoted paths with commas and quotes, CRLF, skipped entries")
    func recordParsing() {
        let text =
            "alpha/__init__.py,sha256=AAA,12\r\n\"alpha/a,b \"\"q\"\".txt\",sha256=BBB,3\r\n"
            + "alpha-1.0.dist-info/RECORD,,\r\n../../bin/tool,sha256=CCC,5\r\nalpha/__pycache__/x.pyc,sha256=DDD,9\n"
            + "alpha/last.py,sha256=EEE,"
        let lines = VenvFileChecker.parseRecord(Array(text.utf8))
        #expect(lines.map(\.path) == ["alpha/__init__.py", "alpha/a,b \"q\".txt", "alpha/last.py"])
        #expect(lines.map(\.hash) == ["AAA", "BBB", "EEE"])
        #expect(lines.map(\.size) == [12, 3, nil])
        let more =
            "/abs/path.py,sha256=FFF,1\npkg/__pycache__/data.txt,sha256=GGG,2\npkg/mod.pyc,sha256=HHH,3\n"
            + "pkg/caf\u{E9}.py,sha256=III,4\npkg/big.bin,sha256=JJJ,+7\npkg/nohash.py,md5=KKK,5\n"
        let parsed = VenvFileChecker.parseRecord(Array(more.utf8))
        #expect(parsed.map(\.path) == ["pkg/caf\u{E9}.py", "pkg/big.bin"])
        #expect(parsed.map(\.size) == [4, nil])
        // Without a quote the fast path reads the same as the general one (CRLF, a 2-field line, skipped entries).
        let unquoted =
            "alpha/__init__.py,sha256=AAA,12\r\nalpha-1.0.dist-info/RECORD,,\r\n../../bin/tool,sha256=CCC,5\r\n\n"
            + more + "short,sha256=X\nalpha/last.py,sha256=EEE,"
        let fast = VenvFileChecker.parseUnquotedRecord(Array(unquoted.utf8))
        #expect(fast.map(\.path) == ["alpha/__init__.py", "pkg/caf\u{E9}.py", "pkg/big.bin", "alpha/last.py"])
        #expect(fast.map(\.hash) == ["AAA", "III", "JJJ", "EEE"])
        #expect(fast.map(\.size) == [12, 4, nil, nil])
        let general = VenvFileChecker.parseRecord(Array((unquoted + "\n\"q,x\",sha256=Q,1").utf8))
        #expect(general.map(\.path) == fast.map(\.path) + ["q,x"])
        #expect(general.map(\.size) == fast.map(\.size) + [1])
    }

    @Test("dist-info headers read as bytes: the header only (not the description), CRLF, WHEEL tags, INSTALLER")
    func distInfoHeaders() throws {
        let dir = try TemporaryDirectory(prefix: "comfylock-distinfo")
        let info = dir.appending("alpha_pkg-1.2.dist-info")
        try FileManager.default.createDirectory(at: info, withIntermediateDirectories: true)
        let metadata =
            "Metadata-Version: 2.1\r\nName:  Alpha_Pkg \r\nVersion: 1.2\r\nSummary: x\r\n\r\n"
            + "Version: 9.9\nName: not-this\n" + String(repeating: "description line\n", count: 1000)
        try Data(metadata.utf8).write(to: info.appendingPathComponent("METADATA"))
        try Data("Wheel-Version: 1.0\nTag: py3-none-any\nTag:  cp311-abi3-linux_x86_64\n".utf8)
            .write(to: info.appendingPathComponent("WHEEL"))
        try Data("uv\n".utf8).write(to: info.appendingPathComponent("INSTALLER"))
        let package = try #require(PythonInstallation.readDistInfo(info.path))
        #expect(package.name == "alpha-pkg" && package.version == "1.2")
        #expect(package.wheelTags == ["cp311-abi3-linux_x86_64", "py3-none-any"])
        #expect(package.installer == "uv")
        try Data("Name: beta\n".utf8).write(to: info.appendingPathComponent("METADATA"))
        #expect(PythonInstallation.readDistInfo(info.path) == nil, "no Version: not a distribution")
    }
}
