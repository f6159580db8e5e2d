/// An error from ComfyCrypto: a key that cannot be loaded or used. Messages never contain key material.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case key, signing
    }

    private let code: Code
    /// What went wrong, without key material.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A PEM text is not a key of the expected kind.
    static func key(_ message: String) -> CryptoError { CryptoError(.key, message) }
    /// Signing failed inside OpenSSL.
    static func signing(_ message: String) -> CryptoError { CryptoError(.signing, message) }

    /// True when a PEM text could not be loaded as a key.
    public var isKeyError: Bool { code == .key }
    /// The message.
    public var description: String { message }
}
