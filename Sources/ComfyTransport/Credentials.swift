public import Foundation

/// Per-host credentials taken from the environment, added to requests by `HTTPClient` and re-decided at every
/// redirect hop (so they are dropped when a redirect leaves the host). Their values never appear in messages.
///
/// - `HF_TOKEN` → `Authorization: Bearer …` for `huggingface.co` (https only);
/// - `CIVITAI_API_TOKEN` → `Authorization: Bearer …` for `civitai.com` (https only);
/// - `COMFYLOCK_AUTH_<HOST>` for any host, `<HOST>` being the host name upper-cased with every character that is
///   not a letter or digit replaced by `_` (e.g. `COMFYLOCK_AUTH_MODELS_EXAMPLE_COM`, `COMFYLOCK_AUTH_127_0_0_1`).
///   The value is a token (sent as `Authorization: Bearer TOKEN`), a full authorization value with a scheme
///   (`Basic dXNlcjpwYXNz`), or a whole header (`X-Api-Key: secret`). It applies over http too: the user chose it.
public struct HostCredentials: Sendable {
    private let environment: [String: String]

    /// Credentials from `environment` (the process environment by default).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// No credentials at all.
    public static let none = HostCredentials(environment: [:])

    /// The environment variable name `COMFYLOCK_AUTH_<HOST>` for `host`.
    public static func variableName(forHost host: String) -> String {
        let mapped = host.uppercased().unicodeScalars.map { scalar -> Character in
            let c = Character(scalar)
            return (("A"..."Z").contains(c) || ("0"..."9").contains(c)) ? c : "_"
        }
        return "COMFYLOCK_AUTH_" + String(mapped)
    }

    /// The header to send to `url`, or `nil` when no credential applies.
    public func header(for url: URL) -> (name: String, value: String)? {
        guard let host = url.host?.lowercased(), !host.isEmpty else { return nil }
        let scheme = url.scheme?.lowercased()
        if let value = nonEmpty(environment[Self.variableName(forHost: host)]) {
            return Self.parse(value)
        }
        guard scheme == "https" else { return nil }
        if host == "huggingface.co", let token = nonEmpty(environment["HF_TOKEN"]) {
            return ("Authorization", "Bearer \(token)")
        }
        if host == "civitai.com", let token = nonEmpty(environment["CIVITAI_API_TOKEN"]) {
            return ("Authorization", "Bearer \(token)")
        }
        return nil
    }

    /// Every credential value known (tokens only), so front ends can scrub them from any text they print.
    public var secrets: [String] {
        var out: [String] = []
        for (key, value) in environment
        where key == "HF_TOKEN" || key == "CIVITAI_API_TOKEN"
            || key.hasPrefix("COMFYLOCK_AUTH_")
        {
            if let value = nonEmpty(value) { out.append(value) }
        }
        return out
    }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    private static func parse(_ value: String) -> (name: String, value: String) {
        if let colon = value.firstIndex(of: ":") {
            let name = value[..<colon]
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
                return (String(name), value[value.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
        }
        if value.contains(" ") { return ("Authorization", value) }
        return ("Authorization", "Bearer \(value)")
    }
}
