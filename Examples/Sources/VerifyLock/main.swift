// Verify a lock file with ComfyLock alone: parse it strictly, validate it, print its digest.
//
//     swift run --package-path Examples VerifyLock lockfiles/example.lock.json
//
// Exit codes follow comfy-cli's contract: 0 valid, 1 invalid lock, 2 unreadable or not a lock.
import ComfyLock
import Foundation

let arguments = CommandLine.arguments.dropFirst()
guard let path = arguments.first else {
    FileHandle.standardError.write(Data("usage: VerifyLock LOCK.json\n".utf8))
    exit(2)
}

let lock: Lock
do {
    // Strict decoding: unknown members, wrong types and unsupported schema versions are errors naming the JSON path.
    lock = try LockFile.read(from: URL(fileURLWithPath: path))
} catch {
    FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
    exit(2)
}

// Validation rules (hashes, commits, relative paths, URLs without credentials), each diagnostic with its JSON path.
let diagnostics = LockValidator.validate(lock)
for diagnostic in diagnostics { print(diagnostic) }
print("tag \(lock.tag), \(lock.customNodes.count) custom node(s), \(lock.models.count) model(s)")
// The digest is SHA-256 over the RFC 8785 canonical form: the same lock gives the same digest everywhere.
print("digest \(LockFile.digest(lock))")
exit(LockValidator.isValid(lock) ? 0 : 1)
