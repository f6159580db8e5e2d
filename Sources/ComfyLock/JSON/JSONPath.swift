/// One step of a JSON path: an object member or an array index.
public enum JSONPathComponent: Hashable, Sendable {
    /// An object member.
    case key(String)
    /// An array element (0-based).
    case index(Int)
}

/// JSON paths in the `$.models[3].sha256` notation used by every error and diagnostic of ComfyLock.
public enum JSONPath {
    /// The root path, `$`.
    public static let root = "$"

    /// Renders components as a path: identifier-like keys as `.key`, other keys as `["key"]`, indexes as `[n]`.
    public static func render<Components: Sequence>(_ components: Components) -> String
    where Components.Element == JSONPathComponent {
        var out = root
        for component in components {
            switch component {
            case .key(let key): out += member(key)
            case .index(let index): out += "[\(index)]"
            }
        }
        return out
    }

    /// `path` extended by an object member.
    public static func appending(_ path: String, key: String) -> String { path + member(key) }

    /// `path` extended by an array index.
    public static func appending(_ path: String, index: Int) -> String { path + "[\(index)]" }

    private static func member(_ key: String) -> String {
        var identifier = !key.isEmpty
        for (offset, byte) in key.utf8.enumerated() {
            let letter = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
            let digit = byte >= 0x30 && byte <= 0x39
            if !(letter || (digit && offset > 0)) {
                identifier = false
                break
            }
        }
        if identifier { return "." + key }
        var quoted = "[\""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                quoted += "\\u" + String(format4: scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\"]"
    }
}

extension String {
    /// Four lowercase hex digits of a value below 0x10000.
    init(format4 value: UInt32) {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 4)
        for i in 0..<4 { bytes[3 - i] = digits[Int((value >> (UInt32(i) * 4)) & 0xF)] }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
