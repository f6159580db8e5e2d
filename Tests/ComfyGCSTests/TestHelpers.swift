import ComfyCrypto
import Foundation

/// SHA-256 hex of a string (test helper).
enum SHA256Hex {
    static func of(_ text: String) -> String { SHA256.hash(Array(text.utf8)).hex }
}

/// Hex decoding (test helper over ComfyCrypto).
enum ComfyCryptoHex {
    static func decode(_ text: String) -> [UInt8]? { Hex.decode(text) }
}
