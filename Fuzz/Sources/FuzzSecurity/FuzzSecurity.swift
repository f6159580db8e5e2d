import ComfyLock

/// libFuzzer entry point for the security rules (issue 9). The first byte picks the target, the rest is the input:
/// - 0: the git URL rule — an accepted URL can never be read by git as an option or a command transport (no leading
///   `-`, no space or control byte, no `::` remote-helper form, no `ext::`/`git://`), and its message escapes it;
/// - 1: the download URL rule — likewise, and only http/https/file schemes;
/// - 2: the file-name component rule (tags, workflow names) — an accepted name is one safe path component;
/// - 3: YAML import — a Manager snapshot as YAML: anchors/aliases and deep nesting must end in an error, never a
///   crash, a stack overflow or unbounded memory (ASan/libFuzzer's `-rss_limit_mb` catch those);
/// - 4: escaping — `Escaping.quoted` never lets a control, bidi or format character through.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSecurity(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0] % 5
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch selector {
    case 0, 1:
        let kind: LockValidator.URLKind = selector == 0 ? .git : .download
        if LockValidator.checkURL(text, kind: kind) == nil {
            precondition(!text.hasPrefix("-"), "accepted an option-looking URL")
            precondition(!text.utf8.contains { $0 <= 0x20 || $0 == 0x7F }, "accepted a space or control byte")
            let lower = text.lowercased()
            precondition(!lower.hasPrefix("ext::") && !lower.hasPrefix("git://"), "accepted a command transport")
            if !text.contains("://") {
                precondition(kind == .git, "accepted a schemeless download URL")
                if let colon = text.firstIndex(of: ":") {
                    precondition(!text[colon...].hasPrefix("::"), "accepted TRANSPORT::ADDRESS")
                }
            } else {
                let scheme = lower[..<lower.range(of: "://")!.lowerBound]
                let allowed: Set<Substring> = kind == .git ? ["http", "https", "ssh", "file"] : ["http", "https", "file"]
                precondition(allowed.contains(scheme), "accepted scheme \(scheme)")
            }
        } else if let problem = LockValidator.checkURL(text, kind: kind) {
            precondition(!problem.message.unicodeScalars.contains { $0.value < 0x20 }, "unescaped message")
        }
    case 2:
        if LockValidator.checkComponent(text, what: "name", rule: "name") == nil {
            precondition(!text.contains("/") && !text.contains("\\"), "accepted a separator")
            precondition(text != "." && text != ".." && !text.hasPrefix(".") && !text.hasPrefix("-"), "accepted . / -")
            precondition(text.utf8.count <= 255 && !text.isEmpty, "accepted a bad length")
        }
    case 3:
        guard bytes.first != UInt8(ascii: "{"), bytes.first != UInt8(ascii: "[") else { return 0 }
        if let result = try? LockImporter.importLock(bytes, format: .manager, tag: "fuzz", createdBy: "fuzz") {
            precondition(LockValidator.errors(result.lock, level: .safe).isEmpty, "import produced an unsafe lock")
        }
    default:
        let quoted = Escaping.quoted(text)
        precondition(!quoted.unicodeScalars.contains { Escaping.needsEscape($0) }, "escape let a control through")
    }
    return 0
}

@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The process entry point: runs libFuzzer with the command-line arguments (see FuzzJSONParser for why).
@_cdecl("FuzzSecurity_main")
public func fuzzSecurityMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        guard let data else { return 0 }
        return fuzzSecurity(data, size)
    }
}
