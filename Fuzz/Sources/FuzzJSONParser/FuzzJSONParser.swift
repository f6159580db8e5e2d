import ComfyLock

/// libFuzzer entry point: parse arbitrary bytes strictly; whatever parses must canonicalize to a fixed point that
/// re-parses to an equal value, and whatever parses as a lock must re-encode to bytes that decode to the same lock.
/// Any crash, sanitizer report or failed `precondition` is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser(maxDepth: 256).parse(bytes) else { return 0 }
    let canonical = CanonicalJSON.encode(value)
    guard let reparsed = try? JSONParser(maxDepth: 256).parse(canonical) else {
        preconditionFailure("canonical output does not parse")
    }
    precondition(reparsed == value, "canonical output parses to a different value")
    precondition((try? CanonicalJSON.canonicalize(canonical)) == canonical, "canonical form is not a fixed point")
    if let lock = try? LockFile.decode(value) {
        _ = LockValidator.validate(lock)
        let encoded = LockFile.encode(lock)
        precondition((try? LockFile.decode(encoded)) == lock.sorted(), "lock does not round-trip")
    }
    return 0
}
