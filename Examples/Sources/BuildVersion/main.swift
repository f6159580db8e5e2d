// Build a version (ComfyUI checkout + custom nodes + Python venv + models) from a lock, with ComfyRuntime alone.
//
//     swift run --package-path Examples BuildVersion LOCK.json NAME
//
// The build happens in a staging directory renamed into place only when every step and the final status check
// succeed (fail-closed). Git URLs and model sources honour the documented mirrors (COMFYLOCK_GIT_MIRROR,
// COMFYLOCK_MODEL_MIRROR, the mirrors file); the versions root is $COMFYLOCK_VERSIONS or ~/comfy-versions.
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: BuildVersion LOCK.json NAME\n".utf8))
    exit(2)
}

do {
    let lock = try LockFile.read(from: URL(fileURLWithPath: arguments[0]))
    let store = ModelStore.fromEnvironment()  // models and the git object cache share the store root
    let builder = VersionBuilder(
        root: VersionsRoot.fromEnvironment(),
        gitCache: GitCache(storeRoot: store.root, rewriter: try URLRewriter.fromEnvironment()),
        store: store,
        python: RuntimePythonEnvironment.fromEnvironment())  // uv when on PATH (or $COMFYLOCK_UV), else pip; hash-checked installs
    let report = try await builder.create(
        name: arguments[1], lock: lock,
        options: VersionCreateOptions(progress: { line in FileHandle.standardError.write(Data("\(line)\n".utf8)) }))
    print("version \(report.name) at \(report.path)")
    print("lock digest \(report.lockDigest)")
    print("environment digest \(report.digest)")
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
