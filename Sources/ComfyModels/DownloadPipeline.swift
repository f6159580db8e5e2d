import ComfyCrypto
import ComfySupport
import Dispatch
public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a download is written to disk (ModelStore's `downloadIO`). The defaults were chosen by measurement
/// (docs/benchmarks.md, P3): see each field.
public struct DownloadIO: Sendable, Hashable {
    /// Start writeback of each `writebackWindow` bytes as soon as they are written (`sync_file_range`
    /// `SYNC_FILE_RANGE_WRITE`) and wait for the window before it, so the final `fsync` finds little left to do and
    /// the dirty pages of one download stay bounded (2 windows).
    public var syncRanges: Bool
    /// The writeback window in bytes.
    public var writebackWindow: Int64
    /// Reserve the file's known size up front (`fallocate` with `FALLOC_FL_KEEP_SIZE`, so a partial file's size
    /// stays the bytes written and a resume starts after them). On by default since round 5: on the project's ext4
    /// disk it was faster than the plain path in every interleaved run (docs/benchmarks.md, P3). A file system
    /// without `fallocate` (ramfs, some FUSE ones: `EOPNOTSUPP`) is written without it; a reservation that does not
    /// fit (`ENOSPC`, `EDQUOT`) fails the download before a byte is written (`ModelError.isNoSpace`).
    public var preallocate: Bool

    /// Options.
    public init(syncRanges: Bool = true, writebackWindow: Int64 = 32 << 20, preallocate: Bool = true) {
        self.syncRanges = syncRanges
        self.writebackWindow = writebackWindow
        self.preallocate = preallocate
    }

    /// The defaults, or what `COMFYLOCK_DOWNLOAD_IO` says (for benchmarks: a comma-separated subset of
    /// `sync`, `nosync`, `prealloc`, `noprealloc`, `window=<MiB>`).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> DownloadIO
    {
        var io = DownloadIO()
        guard let text = environment["COMFYLOCK_DOWNLOAD_IO"] else { return io }
        for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch word {
            case "sync": io.syncRanges = true
            case "nosync": io.syncRanges = false
            case "prealloc": io.preallocate = true
            case "noprealloc": io.preallocate = false
            default:
                if word.hasPrefix("window="), let mib = Int64(word.dropFirst(7)), mib > 0 {
                    io.writebackWindow = mib << 20
                }
            }
        }
        return io
    }
}

/// `sync_file_range(2)`: glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module does not see, so it
/// is looked up once by name (nil where the C library lacks it; then writeback is left to the final `fsync`).
enum SyncFileRange {
    typealias Function = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    static let write: UInt32 = 2
    static let waitAll: UInt32 = 1 | 2 | 4  // WAIT_BEFORE | WRITE | WAIT_AFTER
    private static let function: Function? = dlsym(nil, "sync_file_range").map {
        unsafeBitCast($0, to: Function.self)
    }
    static var isAvailable: Bool { function != nil }

    typealias Fallocate = @convention(c) (Int32, Int32, Int64, Int64) -> Int32
    private static let fallocateFunction: Fallocate? = dlsym(nil, "fallocate64").map {
        unsafeBitCast($0, to: Fallocate.self)
    }
    static let keepSize: Int32 = 0x01  // FALLOC_FL_KEEP_SIZE
    static let punchHole: Int32 = 0x02  // FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE)

    /// `fallocate(fd, mode, offset, length)`: 0, or the errno (`ENOSYS` where the C library lacks it).
    static func fallocate(_ fd: Int32, mode: Int32, offset: Int64, length: Int64) -> Int32 {
        guard let fallocateFunction else { return ENOSYS }
        while true {
            if fallocateFunction(fd, mode, offset, length) == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    /// Reserves `length` bytes from `offset` without changing the file's size (`FALLOC_FL_KEEP_SIZE`), so a
    /// partial file's size stays the bytes written. A file system that cannot (`EOPNOTSUPP`, `ENOSYS`, and any
    /// other refusal but a lack of space) is written without a reservation. When the space is not there (`ENOSPC`,
    /// `EDQUOT`), what was reserved beyond the file's end is released again (`FALLOC_FL_PUNCH_HOLE`) and the download
    /// fails before a byte is written.
    static func reserve(_ fd: Int32, offset: Int64, length: Int64, path: String) throws(ModelError) {
        guard length > 0 else { return }
        let code = fallocate(fd, mode: keepSize, offset: offset, length: length)
        guard code == ENOSPC || code == EDQUOT else { return }
        // Release only what lies beyond the file's end (never a byte already written).
        var st = stat()
        let end = fstat(fd, &st) == 0 ? Int64(st.st_size) : offset + length
        if offset + length > max(offset, end) {
            _ = fallocate(
                fd, mode: keepSize | punchHole, offset: max(offset, end), length: offset + length - max(offset, end))
        }
        throw ModelError.noSpace(path: path, needed: length, errno: code)
    }
    @discardableResult
    static func call(_ fd: Int32, offset: Int64, length: Int64, flags: UInt32) -> Int32 {
        function?(fd, offset, length, flags) ?? -1
    }
}

/// Where the time of one download went (seconds), for the benchmark's breakdown (logged at `info` when a
/// download finishes).
struct DownloadTimings: Sendable {
    /// Time the receiving thread waited for a free buffer (the writer or the hasher was behind).
    var producerWait: Double = 0
    /// Time the writer thread spent in `pwrite`.
    var write: Double = 0
    /// Time the writer thread spent in `sync_file_range` (waiting for writeback of the previous window).
    var writeback: Double = 0
    /// Time the hasher thread spent hashing.
    var hash: Double = 0
}

/// Writes a download to its file and hashes it, each on a thread of its own, from one copy of each received chunk.
///
/// The transfer thread copies what libcurl hands it into a free slot (the only copy in user space) and goes back to
/// receiving; a full slot goes to the writer (`pwrite` at its offset, then `sync_file_range` per window) and to the
/// hasher (SHA-256 in file order); the slot is free again when both are done with it. Memory is bounded:
/// `slotCount` × `slotSize` bytes; the transfer thread waits when every slot is in use.
///
/// `@unchecked Sendable`: the producer-side fields (`current`, `filled`, `nextOffset`, `running`) are touched by one
/// transfer thread at a time; slots change hands through the semaphores and the mutex-protected queues; `hasher`
/// belongs to the hasher thread while it runs and to the producer before the first `update` and after `finish`.
final class DownloadPipeline: @unchecked Sendable {
    static let slotCount = 8
    static let slotSize = 2 << 20

    private struct Item {
        var slot: Int
        var count: Int
        var offset: Int64
    }

    private final class Lane: @unchecked Sendable {
        let items = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let queue = Mutex<[Item]>([])
        func push(_ item: Item) {
            queue.withLock { $0.append(item) }
            items.signal()
        }
        func pop() -> Item {
            items.wait()
            return queue.withLock { $0.removeFirst() }
        }
    }

    let fd: Int32
    let path: String
    let io: DownloadIO
    private let slots: [UnsafeMutableRawBufferPointer]
    private let freeSlots = DispatchSemaphore(value: 0)
    private let freeList = Mutex<[Int]>(Array(0..<DownloadPipeline.slotCount))
    /// Per slot: how many of (writer, hasher) still hold it.
    private let holders = Mutex<[Int]>(Array(repeating: 0, count: DownloadPipeline.slotCount))
    private let writer = Lane()
    private let hashing = Lane()
    private let writeError = Mutex<ModelError?>(nil)
    private let timingState = Mutex(DownloadTimings())
    /// The hash state; only touch it directly while the pipeline is idle (before `update`, after `finish`).
    var hasher = SHA256()
    private var running = false
    private var current = -1
    private var filled = 0
    private var slotOffset: Int64 = 0
    private var nextOffset: Int64 = 0
    // Writer-thread state.
    private var windowStart: Int64 = 0
    private var previousWindowStart: Int64 = -1

    init(fd: Int32, path: String, io: DownloadIO) {
        self.fd = fd
        self.path = path
        self.io = io
        slots = (0..<Self.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slotSize, alignment: 4096)
        }
        for _ in 0..<Self.slotCount { freeSlots.signal() }
    }

    deinit {
        stop()
        for slot in slots { slot.deallocate() }
    }

    var timings: DownloadTimings { timingState.withLock { $0 } }

    /// Where the next byte goes (set before the first `update`: 0, or the resume offset). With `io.preallocate`
    /// the rest of a known size is reserved first; throws when the file system has no room for it.
    func start(at offset: Int64, expectedSize: Int64?) throws(ModelError) {
        precondition(!running)
        nextOffset = offset
        windowStart = offset
        previousWindowStart = -1
        if io.preallocate, let expectedSize, expectedSize > offset {
            try SyncFileRange.reserve(fd, offset: offset, length: expectedSize - offset, path: path)
        }
    }

    /// The first write error, if the writer failed (the transfer should stop).
    var failure: ModelError? { writeError.withLock { $0 } }

    /// Copies `bytes` into the pipeline (waiting for a free slot when the writer or hasher is behind).
    func update(_ bytes: UnsafeRawBufferPointer) throws(ModelError) {
        if let failure { throw failure }
        guard bytes.count > 0 else { return }
        if !running { launch() }
        var offset = 0
        while offset < bytes.count {
            if current < 0 {
                let started = DispatchTime.now().uptimeNanoseconds
                freeSlots.wait()
                let waited = DispatchTime.now().uptimeNanoseconds - started
                if waited > 100_000 { timingState.withLock { $0.producerWait += Double(waited) / 1e9 } }
                current = freeList.withLock { $0.removeLast() }
                filled = 0
                slotOffset = nextOffset
            }
            let n = min(Self.slotSize - filled, bytes.count - offset)
            (slots[current].baseAddress! + filled).copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
            filled += n
            offset += n
            nextOffset += Int64(n)
            if filled == Self.slotSize { submit() }
        }
    }

    /// Waits until everything handed over is written and hashed; returns the digest (the pipeline is idle again).
    /// Throws the writer's error, if any.
    func finish() throws(ModelError) -> SHA256Digest {
        if current >= 0 { submit() }
        stop()
        if let failure { throw failure }
        return hasher.finish()
    }

    /// Stops both threads after the queued slots (idempotent). Must run before the file descriptor is closed.
    func stop() {
        guard running else { return }
        // What was received before an abort is valid data: write it too, so a resume starts after it.
        if current >= 0 {
            if filled > 0 {
                submit()
            } else {
                release(current, holders: 0)
                current = -1
            }
        }
        writer.push(Item(slot: -1, count: -1, offset: 0))
        hashing.push(Item(slot: -1, count: -1, offset: 0))
        writer.done.wait()
        hashing.done.wait()
        running = false
    }

    private func submit() {
        let item = Item(slot: current, count: filled, offset: slotOffset)
        holders.withLock { $0[current] = 2 }
        writer.push(item)
        hashing.push(item)
        current = -1
        filled = 0
    }

    /// Gives a slot back when its last holder is done (`holders` 0 = the producer's own unsubmitted slot).
    private func release(_ slot: Int, holders expected: Int = 1) {
        let free = holders.withLock { counts -> Bool in
            if expected == 0 { return true }
            counts[slot] -= 1
            return counts[slot] == 0
        }
        if free {
            freeList.withLock { $0.append(slot) }
            freeSlots.signal()
        }
    }

    private func launch() {
        running = true
        let w = Thread { [self] in writeLoop() }
        w.name = "comfylock-write"
        w.start()
        let h = Thread { [self] in hashLoop() }
        h.name = "comfylock-sha256"
        h.start()
    }

    private func hashLoop() {
        var busy: UInt64 = 0
        while true {
            let item = hashing.pop()
            if item.count < 0 { break }
            let started = DispatchTime.now().uptimeNanoseconds
            hasher.update(UnsafeRawBufferPointer(rebasing: slots[item.slot][0..<item.count]))
            busy += DispatchTime.now().uptimeNanoseconds - started
            release(item.slot)
        }
        timingState.withLock { $0.hash += Double(busy) / 1e9 }
        hashing.done.signal()
    }

    private func writeLoop() {
        var writeBusy: UInt64 = 0
        var syncBusy: UInt64 = 0
        var end: Int64 = windowStart
        while true {
            let item = writer.pop()
            if item.count < 0 { break }
            if failure == nil {
                let started = DispatchTime.now().uptimeNanoseconds
                do {
                    try FileIO.writeAll(
                        fd, UnsafeRawBufferPointer(rebasing: slots[item.slot][0..<item.count]), at: item.offset,
                        path: path)
                } catch {
                    writeError.withLock { $0 = $0 ?? ModelError.file(error) }
                }
                let written = DispatchTime.now().uptimeNanoseconds
                writeBusy += written - started
                end = item.offset + Int64(item.count)
                if io.syncRanges, end - windowStart >= io.writebackWindow {
                    // Start writeback of the window just filled; wait for the one before (bounded dirty pages).
                    SyncFileRange.call(fd, offset: windowStart, length: end - windowStart, flags: SyncFileRange.write)
                    if previousWindowStart >= 0 {
                        SyncFileRange.call(
                            fd, offset: previousWindowStart, length: windowStart - previousWindowStart,
                            flags: SyncFileRange.waitAll)
                    }
                    previousWindowStart = windowStart
                    windowStart = end
                    syncBusy += DispatchTime.now().uptimeNanoseconds - written
                }
            }
            release(item.slot)
        }
        if io.syncRanges, failure == nil, end > windowStart {
            // Start writeback of the tail now; the caller's fsync waits for it.
            SyncFileRange.call(fd, offset: windowStart, length: end - windowStart, flags: SyncFileRange.write)
        }
        timingState.withLock {
            $0.write += Double(writeBusy) / 1e9
            $0.writeback += Double(syncBusy) / 1e9
        }
        writer.done.signal()
    }
}
