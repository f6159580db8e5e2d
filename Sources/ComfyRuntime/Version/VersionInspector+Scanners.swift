internal import ComfyCrypto
internal import ComfyLock
internal import ComfyModels
internal import ComfySupport
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// The custom nodes actually present under `custom_nodes/` (and `custom_nodes/.disabled/`).
enum NodeScanner {
    struct Found: Sendable, Hashable {
        let name: String
        let path: String
        let enabled: Bool
        let isDirectory: Bool
    }

    static func scan(_ customNodes: URL) -> [Found] {
        var found: [Found] = []
        for (dir, enabled) in [(customNodes, true), (customNodes.appendingPathComponent(".disabled"), false)] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for name in names.sorted() {
                if name.hasPrefix(".") || name == "__pycache__" || name.hasSuffix(".example") { continue }
                let path = dir.appendingPathComponent(name).path
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
                if !isDirectory && !name.hasSuffix(".py") { continue }
                found.append(Found(name: name, path: path, enabled: enabled, isDirectory: isDirectory))
            }
        }
        return found
    }
}

/// Model files under a models root: relative paths, sorted; hidden entries and partial files skipped.
enum ModelScanner {
    static func scan(_ root: URL) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var files: [String] = []
        while let item = enumerator.nextObject() as? String {
            let name = (item as NSString).lastPathComponent
            if name.hasPrefix(".") {
                if (enumerator.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory {
                    enumerator.skipDescendants()
                }
                continue
            }
            if name.hasSuffix(".partial") { continue }
            let type = enumerator.fileAttributes?[.type] as? FileAttributeType
            if type == .typeRegular || type == .typeSymbolicLink { files.append(item) }
        }
        return files.sorted()
    }
}
