import ComfySupport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("atomic write, write loop, file lock")
struct FileTests {
    func leftovers(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".partial") }
    }

    @Test("atomic write: content and mode, no partial file left, unchanged bytes are not rewritten")
    func atomicWrite() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("f.json").path
        #expect(try AtomicFile.write(Array("one\n".utf8), to: path, permissions: 0o600))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\n")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let inode = info.st_ino
        #expect(try !AtomicFile.write(Array("one\n".utf8), to: path, skipIfUnchanged: true))
        #expect(stat(path, &info) == 0 && info.st_ino == inode)
        #expect(try AtomicFile.write(Array("two\n".utf8), to: path, skipIfUnchanged: true))
        #expect(stat(path, &info) == 0 && info.st_ino != inode)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two\n")
        #expect(try AtomicFile.write([], to: path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        #expect(try leftovers(dir).isEmpty)
    }

    @Test("atomic write: a failure leaves the target untouched and no partial file")
    func atomicWriteFailure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let error = #expect(throws: FileError.self) {
            try AtomicFile.write([1, 2, 3], to: dir.appending("missing/f").path)
        }
        #expect(error?.message.contains("missing/f") == true)
        // Renaming over a directory fails after the partial was written: the partial must be gone.
        try FileManager.default.createDirectory(atPath: dir.appending("d").path, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: dir.appending("d/inner"))
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: dir.appending("d").path) }
        #expect(try String(contentsOfFile: dir.appending("d/inner").path, encoding: .utf8) == "keep")
        #expect(try leftovers(dir).isEmpty)
    }

    @Test("concurrent atomic writers use distinct partial files; the result is one writer's whole content")
    func concurrentWriters() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("shared").path
        let contents = (0..<16).map { [UInt8](repeating: UInt8($0), count: 256 * 1024) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bytes in contents {
                group.addTask { try AtomicFile.write(bytes, to: path) }
            }
            try await group.waitForAll()
        }
        let final = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(contents.contains(final))
        #expect(try leftovers(dir).isEmpty)
        #expect(AtomicFile.partialPath(for: path) != AtomicFile.partialPath(for: path))
    }

    @Test("write loop: all bytes arrive through a pipe smaller than the buffer; pwrite writes at the offset")
    func writeLoop() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reader = fds[0]
        let received = LockedBytes()
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                received.append(buffer[..<n])
            }
            received.finish()
        }
        thread.start()
        try FileIO.writeAll(fds[1], payload, path: "pipe")
        close(fds[1])
        received.waitUntilFinished()
        close(reader)
        #expect(received.bytes == payload)

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("p").path
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        try [UInt8]("hello world".utf8).withUnsafeBytes { try FileIO.writeAll(fd, $0, at: 0, path: path) }
        try [UInt8]("WORLD".utf8).withUnsafeBytes { try FileIO.writeAll(fd, $0, at: 6, path: path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello WORLD")
        #expect(throws: FileError.self) { try FileIO.writeAll(-1, [1], path: "bad") }
    }

    @Test("file lock: exclusive excludes, shared shares, a waiter can be cancelled")
    func fileLock() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("x.lock").path
        var held: FileLock? = try await FileLock.acquire(path: path)
        // Another process cannot take it while we hold it (flock(1) -n fails at once).
        let busy = try Subprocess.run("/usr/bin/flock", ["-n", path, "true"])
        #expect(busy.status != 0)
        let waiter = Task { try await FileLock.acquire(path: path) }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        let error = await #expect(throws: FileError.self) { try await waiter.value }
        #expect(error?.isCancellation == true)
        let second = Task { try await FileLock.acquire(path: path) }
        try await Task.sleep(for: .milliseconds(50))
        held = nil
        _ = try await second.value
        withExtendedLifetime(held) {}

        let sharedPath = dir.appending("s.lock").path
        let a = try await FileLock.acquire(path: sharedPath, shared: true)
        let b = try await FileLock.acquire(path: sharedPath, shared: true)
        #expect(try Subprocess.run("/usr/bin/flock", ["-n", "-s", sharedPath, "true"]).status == 0)
        #expect(try Subprocess.run("/usr/bin/flock", ["-n", sharedPath, "true"]).status != 0)
        withExtendedLifetime((a, b)) {}
    }
}

/// Bytes collected by a reader thread. `@unchecked Sendable`: guarded by `condition`.
final class LockedBytes: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: [UInt8] = []
    private var done = false
    func append(_ chunk: ArraySlice<UInt8>) {
        condition.lock()
        data.append(contentsOf: chunk)
        condition.unlock()
    }
    func finish() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }
    func waitUntilFinished() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
    var bytes: [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        return data
    }
}
