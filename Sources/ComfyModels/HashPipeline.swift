import ComfyCrypto
import Dispatch
import Foundation
import Synchronization

/// Hashes, on a worker thread, the bytes a transfer thread hands it, so SHA-256 overlaps receiving and writing
/// (the hash is still computed from the downloaded bytes in the same pass — never by reading the file again).
/// Memory is bounded: `slotCount` buffers of `slotSize` bytes; the producer waits when all are in use.
///
/// `@unchecked Sendable`: the producer-side fields (`current`, `filled`, `running`) are touched by one producer
/// thread at a time; slots change hands through the semaphores and the mutex-protected queues; `hasher` belongs
/// to the worker while it runs and to the producer before the first `update` and after `finish` (ordered by the
/// `stopped` semaphore).
final class HashPipeline: @unchecked Sendable {
    static let slotCount = 4
    static let slotSize = 2 << 20

    private let slots: [UnsafeMutableRawBufferPointer]
    // Created at 0 and signalled up: libdispatch traps when a semaphore is freed below its initial value, which
    // would happen after an abandoned transfer left a slot taken.
    private let freeSlots = DispatchSemaphore(value: 0)
    private let filledSlots = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let queue = Mutex<[(slot: Int, count: Int)]>([])
    private let freeList = Mutex<[Int]>(Array(0..<HashPipeline.slotCount))
    /// The hash state; only touch it directly while the pipeline is idle (before `update`, after `finish`).
    var hasher = SHA256()
    private var running = false
    private var current = -1
    private var filled = 0

    init() {
        slots = (0..<Self.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slotSize, alignment: 4096)
        }
        for _ in 0..<Self.slotCount { freeSlots.signal() }
    }

    deinit {
        stop()
        for slot in slots { slot.deallocate() }
    }

    /// Copies `bytes` into the pipeline (waiting for a free slot when the worker is behind).
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !running { start() }
        var offset = 0
        while offset < bytes.count {
            if current < 0 {
                freeSlots.wait()
                current = freeList.withLock { $0.removeLast() }
                filled = 0
            }
            let n = min(Self.slotSize - filled, bytes.count - offset)
            (slots[current].baseAddress! + filled).copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
            filled += n
            offset += n
            if filled == Self.slotSize { submit() }
        }
    }

    /// Waits for everything handed over to be hashed, and returns the digest (the pipeline is reset and idle).
    func finish() -> SHA256Digest {
        if current >= 0 { submit() }
        stop()
        return hasher.finish()
    }

    /// Stops the worker after the queued slots (idempotent; used when a transfer is abandoned).
    func stop() {
        guard running else { return }
        queue.withLock { $0.append((slot: -1, count: -1)) }
        filledSlots.signal()
        stopped.wait()
        running = false
    }

    private func submit() {
        let item = (slot: current, count: filled)
        queue.withLock { $0.append(item) }
        filledSlots.signal()
        current = -1
        filled = 0
    }

    private func start() {
        running = true
        let thread = Thread { [self] in work() }
        thread.name = "comfylock-sha256"
        thread.start()
    }

    private func work() {
        while true {
            filledSlots.wait()
            let item = queue.withLock { $0.removeFirst() }
            if item.count < 0 {
                stopped.signal()
                return
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: slots[item.slot][0..<item.count]))
            freeList.withLock { $0.append(item.slot) }
            freeSlots.signal()
        }
    }
}
