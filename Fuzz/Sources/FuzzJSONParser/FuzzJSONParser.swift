import ComfyLock

/// libFuzzer entry point. Differential: the tape fast path (`CanonicalJSON.canonicalize`) and the full parser +
/// `JSONValue` writer must agree on every input — same acceptance, same error rule, same bytes. Whatever parses must
/// canonicalize to a fixed point that re-parses to an equal value, and whatever parses as a lock must re-encode to
/// bytes that decode to the same lock. Any crash, sanitizer report or failed `precondition` is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let fast: Result<[UInt8], JSONParseError> = Result { () throws(JSONParseError) in
        try CanonicalJSON.canonicalize(bytes, maxDepth: 256)
    }
    let value: JSONValue
    do {
        value = try JSONParser(maxDepth: 256).parse(bytes)
    } catch {
        guard case .failure(let fastError) = fast else { preconditionFailure("fast path accepted invalid JSON") }
        precondition(fastError == error, "fast path reported a different error")
        return 0
    }
    let canonical = CanonicalJSON.encode(value)
    guard case .success(let fastBytes) = fast, fastBytes == canonical else {
        preconditionFailure("fast path and JSONValue writer disagree")
    }
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

// SwiftPM links an executable target's entry point as `<Target>_main` (aliased to `main`), which would shadow
// libFuzzer's own `main`. So the target provides that entry point itself and hands control to libFuzzer's driver.
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The process entry point: runs libFuzzer with the command-line arguments.
@_cdecl("FuzzJSONParser_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        guard let data else { return 0 }
        return fuzzJSONParser(data, size)
    }
}
