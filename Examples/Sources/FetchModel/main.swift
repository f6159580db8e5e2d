// Fetch one model file into the content-addressed store and place it, with ComfyModels alone.
//
//     swift run --package-path Examples FetchModel SHA256 URL TARGET [SIZE]
//
// The download is hashed while it arrives, resumed after a dropped connection, retried, and only renamed into the
// store when size and SHA-256 match; TARGET is then a hard link (or reflink/copy) of the verified blob. Tokens come
// from the environment (HF_TOKEN, CIVITAI_API_TOKEN, COMFYLOCK_AUTH_<HOST>) and are sent to their host only.
import ComfyModels
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3 || arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: FetchModel SHA256 URL TARGET [SIZE]\n".utf8))
    exit(2)
}
let sha256 = arguments[0]
let source = arguments[1]
let target = URL(fileURLWithPath: arguments[2])
let size = arguments.count == 4 ? Int64(arguments[3]) : nil

// $COMFYLOCK_STORE, else ~/.cache/comfylock.
let store = ModelStore.fromEnvironment()
do {
    let (origin, method) = try await store.fetch(
        sha256: sha256, size: size, sources: [source], to: target,
        progress: { progress in
            FileHandle.standardError.write(Data("\r\(progress.bytesDone) bytes".utf8))
        })
    FileHandle.standardError.write(Data("\n".utf8))
    switch origin {
    case .store: print("already in the store \(store.root.path)")
    case .downloaded(let url): print("downloaded from \(url)")
    }
    print("placed \(target.path) by \(method)")
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
