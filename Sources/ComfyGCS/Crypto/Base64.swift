import Foundation

/// Base64 and base64url (RFC 4648 §5, no padding, as JWTs use) encoding.
public enum Base64 {
    /// Standard base64 with padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
    }

    /// Decodes standard base64 (with or without padding); `nil` when malformed.
    public static func decode(_ text: String) -> [UInt8]? {
        var padded = text
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }

    /// base64url without padding.
    public static func urlEncode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = encode(bytes)
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }

    /// Decodes base64url (padding optional); `nil` when malformed.
    public static func urlDecode(_ text: String) -> [UInt8]? {
        guard !text.contains("+"), !text.contains("/") else { return nil }
        return decode(String(text.map { $0 == "-" ? "+" : ($0 == "_" ? "/" : $0) }))
    }
}
