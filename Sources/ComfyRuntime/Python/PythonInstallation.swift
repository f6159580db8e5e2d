internal import ComfyCrypto
internal import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One distribution installed in a venv, read from its `*.dist-info` directory (what `pip inspect` reports).
public struct InstalledPythonPackage: Sendable, Hashable, Codable {
    /// PEP 503 normalized name.
    public var name: String
    /// The installed version (from `METADATA`).
    public var version: String
    /// Who installed it (`INSTALLER`: "uv", "pip"), when recorded.
    public var installer: String?
    /// The wheel tags it was installed from (`WHEEL` `Tag:` lines), e.g. `py3-none-any`.
    public var wheelTags: [String]
    /// For a VCS install (`direct_url.json` with `vcs_info`): the repository URL and commit.
    public var vcs: VCSInstall?
    /// For an install from a direct URL or file (`direct_url.json` with `archive_info`): its URL and sha256 if known.
    public var archiveURL: String?
    /// The archive's sha256 from `direct_url.json`, when recorded.
    public var archiveSHA256: String?
    /// The `.dist-info` directory.
    public var distInfo: String

    /// A VCS install recorded in `direct_url.json`.
    public struct VCSInstall: Sendable, Hashable, Codable {
        /// The repository URL (credentials removed).
        public var url: String
        /// The commit that was installed.
        public var commit: String
    }
}

/// Reads what is installed in a venv from its `*.dist-info` directories, the same data `pip inspect` and
/// `uv pip list` report, without running Python (fast, and works for venvs without pip).
public enum PythonInstallation {
    /// Name of the receipt ComfyLock writes into a venv after a hash-checked install: for each package it installed,
    /// the sha256 of the exact artifact. Used for hash drift and for digests.
    public static let receiptName = "comfylock-python.json"

    /// Every distribution installed in `venv`, sorted by name.
    public static func packages(in venv: PythonVirtualEnvironment) throws -> [InstalledPythonPackage] {
        var result: [String: InstalledPythonPackage] = [:]
        for site in venv.sitePackages() {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: site)) ?? []
            for entry in entries.sorted() where entry.hasSuffix(".dist-info") {
                let dir = site + "/" + entry
                guard let package = readDistInfo(dir) else { continue }
                result[package.name] = package
            }
        }
        return result.values.sorted { $0.name < $1.name }
    }

    static func readDistInfo(_ dir: String) -> InstalledPythonPackage? {
        guard let metadata = FileManager.default.contents(atPath: dir + "/METADATA") else { return nil }
        // The header ends at the first empty line; the long description after it (torch's is ~40 kB) is not read.
        // Bytes, not String lines: splitting every METADATA into Characters was ~250 ms of a `version create`.
        var name: String?
        var version: String?
        HeaderLines.forEach(in: metadata, stopAtBlank: true) { line in
            if let value = HeaderLines.value(line, key: "Name:") { name = value }
            if let value = HeaderLines.value(line, key: "Version:") { version = value }
        }
        guard let name, let version else { return nil }
        let installer = FileManager.default.contents(atPath: dir + "/INSTALLER").map {
            HeaderLines.trimmed($0[...])
        }
        var tags: [String] = []
        if let wheel = FileManager.default.contents(atPath: dir + "/WHEEL") {
            HeaderLines.forEach(in: wheel, stopAtBlank: false) { line in
                if let tag = HeaderLines.value(line, key: "Tag:") { tags.append(tag) }
            }
        }
        var package = InstalledPythonPackage(
            name: PythonNames.normalize(name), version: version,
            installer: installer?.isEmpty == false ? installer : nil,
            wheelTags: tags.sorted(), vcs: nil, archiveURL: nil, archiveSHA256: nil, distInfo: dir)
        if let direct = FileManager.default.contents(atPath: dir + "/direct_url.json"),
            let json = try? JSONSerialization.jsonObject(with: direct) as? [String: Any]
        {
            let url = Redaction.redactURL(json["url"] as? String ?? "")
            if let vcs = json["vcs_info"] as? [String: Any], let commit = vcs["commit_id"] as? String {
                package.vcs = .init(url: url, commit: commit)
            } else if let archive = json["archive_info"] as? [String: Any] {
                package.archiveURL = url
                if let hashes = archive["hashes"] as? [String: Any], let sha = hashes["sha256"] as? String {
                    package.archiveSHA256 = sha.lowercased()
                } else if let hash = archive["hash"] as? String, hash.hasPrefix("sha256=") {
                    package.archiveSHA256 = String(hash.dropFirst(7)).lowercased()
                }
            }
        }
        return package
    }

    /// One file of a distribution's `RECORD` that is not as it was installed.
    public struct ModifiedFile: Sendable, Hashable, Codable {
        /// Path relative to site-packages.
        public var path: String
        /// "missing", "size differs" or "sha256 differs".
        public var problem: String
    }

    /// Checks the files of `package` against its `RECORD`: existence and size always, sha256 when `deep`.
    ///
    /// Entries outside site-packages (console scripts, whose shebang names the venv's path) and compiled bytecode
    /// (which embeds source paths) are skipped: they legitimately differ between two directories.
    public static func verifyRecord(of package: InstalledPythonPackage, deep: Bool) -> [ModifiedFile] {
        let site = (package.distInfo as NSString).deletingLastPathComponent
        guard let record = FileManager.default.contents(atPath: package.distInfo + "/RECORD") else {
            return [
                ModifiedFile(path: (package.distInfo as NSString).lastPathComponent + "/RECORD", problem: "missing")
            ]
        }
        var problems: [ModifiedFile] = []
        // Any line end: pip writes RECORD through Python's csv module ("\r\n", one Character in Swift).
        for line in String(decoding: record, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = CSVLine.split(String(line))
            guard fields.count >= 3, !fields[0].isEmpty, fields[1].hasPrefix("sha256=") else { continue }
            let path = fields[0]
            if path.hasPrefix("../") || path.hasPrefix("/") || path.hasSuffix(".pyc") || path.contains("__pycache__/") {
                continue
            }
            let full = site + "/" + path
            // One stat(2) per file: Foundation's attributesOfItem also lists extended attributes and looks up the
            // owner's name (3 syscalls and an NSS query more per file; torch alone has ~30,000 files).
            var info = stat()
            guard stat(full, &info) == 0 else {
                problems.append(ModifiedFile(path: path, problem: "missing"))
                continue
            }
            if let size = Int64(fields[2]), size != Int64(info.st_size) {
                problems.append(ModifiedFile(path: path, problem: "size differs"))
                continue
            }
            if deep {
                let expected = String(fields[1].dropFirst(7))
                guard let digest = try? SHA256.hashFile(atPath: full).digest else {
                    problems.append(ModifiedFile(path: path, problem: "unreadable"))
                    continue
                }
                if Base64URL.encodeNoPadding(digest.bytes) != expected {
                    problems.append(ModifiedFile(path: path, problem: "sha256 differs"))
                }
            }
        }
        return problems
    }

    /// Reads the install receipt of `venv` (nil when ComfyLock did not install it).
    public static func receipt(of venv: PythonVirtualEnvironment) -> PythonInstallReceipt? {
        guard let data = FileManager.default.contents(atPath: venv.root + "/" + receiptName) else { return nil }
        return try? JSONDecoder().decode(PythonInstallReceipt.self, from: data)
    }

    static func writeReceipt(_ receipt: PythonInstallReceipt, to venv: PythonVirtualEnvironment) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(receipt)
        try AtomicFile.write(Array(data) + [0x0a], to: venv.root + "/" + receiptName)
    }
}

/// What ComfyLock installed into a venv: per package the version and the sha256 of the artifact that was installed
/// (hash-checked at install time), or the VCS commit. Written as `comfylock-python.json` in the venv root.
public struct PythonInstallReceipt: Sendable, Hashable, Codable {
    /// One installed package.
    public struct Entry: Sendable, Hashable, Codable {
        /// Normalized name.
        public var name: String
        /// Installed version.
        public var version: String
        /// The artifact's sha256 (the one whose wheel tags match the installed dist), when known.
        public var sha256: String?
        /// The artifact's filename, when known.
        public var filename: String?
        /// All sha256 the install accepted for this package (the pins' artifacts).
        public var acceptedSHA256: [String]
        /// VCS commit, for VCS installs.
        public var vcsCommit: String?
    }

    /// "uv" or "pip".
    public var installer: String
    /// One entry per pinned package, sorted by name.
    public var packages: [Entry]
}

/// The `Key: value` lines of a dist-info header file (`METADATA`, `WHEEL`), read as bytes.
enum HeaderLines {
    /// Calls `body` with each line (without its `\n` or `\r\n`), stopping at the first empty line when
    /// `stopAtBlank` (the end of an RFC 822-style header).
    static func forEach(in data: Data, stopAtBlank: Bool, _ body: (ArraySlice<UInt8>) -> Void) {
        let bytes = [UInt8](data)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0a { end += 1 }
            var line = bytes[start..<end]
            if line.last == 0x0d { line = line.dropLast() }
            if line.isEmpty, stopAtBlank { return }
            body(line)
            start = end + 1
        }
    }

    /// The value of `line` when it starts with `key` (case-sensitive, as the fields are written), trimmed.
    static func value(_ line: ArraySlice<UInt8>, key: StaticString) -> String? {
        let count = key.utf8CodeUnitCount
        guard line.count >= count else { return nil }
        let matches = key.withUTF8Buffer { key in
            zip(key, line.prefix(count)).allSatisfy { $0 == $1 }
        }
        return matches ? trimmed(line.dropFirst(count)) : nil
    }

    /// `bytes` as a string without leading or trailing ASCII white space (space, tab, CR, LF).
    static func trimmed(_ bytes: some Collection<UInt8>) -> String {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0d || byte == 0x0a }
        let array = Array(bytes)
        guard let first = array.firstIndex(where: { !isSpace($0) }), let last = array.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: array[first...last], as: UTF8.self)
    }
}

/// Splits one CSV line of a `RECORD` file (fields may be double-quoted).
enum CSVLine {
    static func split(_ line: String) -> [String] {
        // Fast path (almost every RECORD line): no quotes, split on commas by byte.
        if !line.utf8.contains(UInt8(ascii: "\"")) {
            var bytes = Substring(line).utf8[...]
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            return bytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))).makeIterator()
        var pending: Character?
        while let char = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if char == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(char)
                }
            } else if char == "\"" {
                quoted = true
            } else if char == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(char)
            }
        }
        fields.append(current)
        return fields
    }
}

/// URL-safe base64 without padding (the hash encoding of wheel `RECORD` files).
enum Base64URL {
    static func encodeNoPadding(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
