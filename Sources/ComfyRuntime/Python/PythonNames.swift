import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Python packaging names, versions and tags.
public enum PythonNames {
    /// The PEP 503 normalized form of a distribution name: lowercase, runs of `-`, `_`, `.` become one `-`.
    public static func normalize(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for char in name.lowercased() {
            if char == "-" || char == "_" || char == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(char)
                lastWasSeparator = false
            }
        }
        return out
    }

    /// The parts of a wheel filename `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, or `nil` when
    /// `filename` is not a wheel name. `tags` is the expanded set of `python-abi-platform` triples.
    public static func parseWheelFilename(_ filename: String) -> (name: String, version: String, tags: Set<String>)? {
        guard filename.hasSuffix(".whl") else { return nil }
        let parts = filename.dropLast(4).split(separator: "-").map(String.init)
        guard parts.count == 5 || parts.count == 6 else { return nil }
        let python = parts[parts.count - 3].split(separator: ".")
        let abi = parts[parts.count - 2].split(separator: ".")
        let platform = parts[parts.count - 1].split(separator: ".")
        var tags: Set<String> = []
        for p in python { for a in abi { for pl in platform { tags.insert("\(p)-\(a)-\(pl)") } } }
        return (normalize(parts[0]), parts[1], tags)
    }

    /// `(name, version)` of an sdist filename (`name-version.tar.gz` / `.zip`), or `nil`.
    public static func parseSdistFilename(_ filename: String) -> (name: String, version: String)? {
        var stem: Substring
        if filename.hasSuffix(".tar.gz") {
            stem = filename.dropLast(7)
        } else if filename.hasSuffix(".zip") {
            stem = filename.dropLast(4)
        } else {
            return nil
        }
        guard let dash = stem.lastIndex(of: "-") else { return nil }
        let version = stem[stem.index(after: dash)...]
        stem = stem[..<dash]
        return (normalize(String(stem)), String(version))
    }

    /// The last path component of a URL string, without query or fragment.
    public static func filename(ofURL url: String) -> String {
        var text = Substring(url)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        let name = text.split(separator: "/").last.map(String.init) ?? String(text)
        return name.removingPercentEncoding ?? name
    }
}

/// Platform tags: the host's tag, and the mapping to uv's `--python-platform` targets.
public enum PythonPlatform {
    /// This machine's platform tag, e.g. `manylinux_2_36_x86_64` on Debian 12 (glibc 2.36) or `macosx_14_0_arm64`.
    public static func host() -> String {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        #if os(Linux)
            var buffer = [CChar](repeating: 0, count: 64)
            if confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count) > 0 {
                // "glibc 2.36"
                let text =
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(
                        separator: " "
                    ).last.map(String.init) ?? ""
                let parts = text.split(separator: ".")
                if parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) {
                    return "manylinux_\(major)_\(minor)_\(machine)"
                }
            }
            return "linux_\(machine)"
        #else
            let version = ProcessInfo.processInfo.operatingSystemVersion
            return "macosx_\(version.majorVersion)_0_\(machine)"
        #endif
    }

    /// The uv `--python-platform` target for a platform tag.
    ///
    /// `manylinux_2_N_ARCH` → `ARCH-manylinux_2_N` (legacy `manylinux2014` = 2.17), `linux_ARCH` →
    /// `ARCH-unknown-linux-gnu`, `musllinux_1_N_ARCH` → `ARCH-unknown-linux-musl`, `macosx_*_ARCH` →
    /// `ARCH-apple-darwin`, `win_amd64` → `x86_64-pc-windows-msvc`.
    public static func uvTarget(for tag: String) throws -> String {
        func arch(_ raw: String) -> String { raw == "arm64" ? "aarch64" : raw }
        let parts = tag.split(separator: "_").map(String.init)
        if tag.hasPrefix("manylinux_"), parts.count >= 4, let major = Int(parts[1]), let minor = Int(parts[2]) {
            let machine = parts[3...].joined(separator: "_")
            // uv knows manylinux targets from 2.17 on; newer glibc values beyond its list fall back to 2.40.
            let clamped = major == 2 ? min(max(minor, 17), 40) : minor
            return "\(arch(machine))-manylinux_\(major)_\(clamped)"
        }
        for (legacy, minor) in [("manylinux2014_", 17), ("manylinux2010_", 12), ("manylinux1_", 5)]
        where tag.hasPrefix(legacy) {
            return "\(arch(String(tag.dropFirst(legacy.count))))-manylinux_2_\(max(minor, 17))"
        }
        if tag.hasPrefix("linux_") { return "\(arch(String(tag.dropFirst(6))))-unknown-linux-gnu" }
        if tag.hasPrefix("musllinux_"), parts.count >= 4 {
            return "\(arch(parts[3...].joined(separator: "_")))-unknown-linux-musl"
        }
        if tag.hasPrefix("macosx_"), parts.count >= 4 {
            return "\(arch(parts[3...].joined(separator: "_")))-apple-darwin"
        }
        if tag == "win_amd64" { return "x86_64-pc-windows-msvc" }
        if tag == "win_arm64" { return "aarch64-pc-windows-msvc" }
        throw PythonError.invalidPlatform(tag)
    }

    /// The platform tags pip's `--platform` accepts for a tag (pip expands manylinux tags itself).
    static func pipPlatforms(for tag: String) -> [String] {
        let parts = tag.split(separator: "_").map(String.init)
        if tag.hasPrefix("manylinux_"), parts.count >= 4, parts[1] == "2", let minor = Int(parts[2]) {
            // pip matches --platform exactly: pass every tag a glibc 2.N machine accepts (PEP 600), newest first,
            // with the legacy aliases next to their glibc (manylinux2014 = 2.17, 2010 = 2.12, manylinux1 = 2.5).
            let machine = parts[3...].joined(separator: "_")
            let oldest = ["x86_64", "i686"].contains(machine) ? 5 : 17
            var tags: [String] = []
            if minor >= oldest {
                for glibc in stride(from: minor, through: oldest, by: -1) {
                    tags.append("manylinux_2_\(glibc)_\(machine)")
                    switch glibc {
                    case 17: tags.append("manylinux2014_\(machine)")
                    case 12: tags.append("manylinux2010_\(machine)")
                    case 5: tags.append("manylinux1_\(machine)")
                    default: break
                    }
                }
            } else {
                tags.append(tag)
            }
            tags.append("linux_\(machine)")
            return tags
        }
        return [tag]
    }
}
