internal import ComfyLock
internal import ComfyModels
internal import ComfySupport
internal import Foundation
internal import Logging

#if canImport(Glibc)
    internal import Glibc
#endif

/// Rewrites absolute staging paths in a venv's scripts (shebangs, activate scripts, pyvenv.cfg) to the final path,
/// so a venv built in the staging directory works after the rename.
enum VenvRelocation {
    static func relocate(venv: URL, from staging: String, to final: String) throws {
        var files: [URL] = [venv.appendingPathComponent("pyvenv.cfg")]
        let bin = venv.appendingPathComponent("bin")
        if let names = try? FileManager.default.contentsOfDirectory(atPath: bin.path) {
            files += names.map { bin.appendingPathComponent($0) }
        }
        let needle = Array(staging.utf8)
        for file in files {
            var info = stat()
            guard lstat(file.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 1 << 20,
                let bytes = try? BoundedInput.read(file.path, limits: InputLimits(maxBytes: 1 << 20))
            else { continue }
            guard bytes.firstRange(of: needle) != nil else { continue }
            var out: [UInt8] = []
            var index = 0
            while index < bytes.count {
                if index + needle.count <= bytes.count && bytes[index..<index + needle.count].elementsEqual(needle) {
                    out += Array(final.utf8)
                    index += needle.count
                } else {
                    out.append(bytes[index])
                    index += 1
                }
            }
            let temp = file.path + ".relocate"
            guard FileManager.default.createFile(atPath: temp, contents: Data(out)) else {
                throw RuntimeError.invalidInput("cannot rewrite \(file.path)")
            }
            _ = chmod(temp, info.st_mode & 0o7777)
            guard rename(temp, file.path) == 0 else { throw RuntimeError.invalidInput("cannot replace \(file.path)") }
        }
    }
}
