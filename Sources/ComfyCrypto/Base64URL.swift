import Foundation

/// base64url (RFC 4648 §5) without padding, as JSON Web Tokens use it. Standard base64 is Foundation's
/// `Data.base64EncodedString()`.
public enum Base64URL {
    /// base64url without padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }

    /// Decodes base64url (padding optional); `nil` when malformed (including standard base64's `+` and `/`).
    public static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("+"), !text.contains("/") else { return nil }
        var padded = String(text.map { $0 == "-" ? "+" : ($0 == "_" ? "/" : $0) })
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
