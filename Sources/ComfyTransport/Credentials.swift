internal import ComfySupport
public import Foundation

/// Per-host credentials taken from the environment, added to requests by `HTTPClient` and re-decided at every
/// redirect hop (so they are dropped when a redirect leaves the host). Their values never appear in messages.
///
/// Credentials are keyed by origin — scheme, host and port — never by host alone, so a token for
/// `https://models.example.com` is not sent to `http://models.example.com` or to another port of that host:
/// - `COMFYLOCK_AUTH_<SCHEME>__<HOST>__<PORT>` for exactly that origin, `<HOST>` being the host name upper-cased
///   with every character that is not a letter or digit replaced by `_` (e.g.
///   `COMFYLOCK_AUTH_HTTP__127_0_0_1__8080`, `COMFYLOCK_AUTH_HTTPS__MODELS_EXAMPLE_COM__8443`);
/// - `COMFYLOCK_AUTH_<HOST>` (e.g. `COMFYLOCK_AUTH_MODELS_EXAMPLE_COM`): shorthand for `https` on port 443 only;
/// - `HF_TOKEN` → `Authorization: Bearer …` for `https://huggingface.co` (port 443);
/// - `CIVITAI_API_TOKEN` → `Authorization: Bearer …` for `https://civitai.com` (port 443).
/// The `COMFYLOCK_AUTH_*` value is a token (sent as `Authorization: Bearer TOKEN`), a full authorization value with
/// a scheme (`Basic dXNlcjpwYXNz`), or a whole header (`X-Api-Key: secret`).
public struct HostCredentials: Sendable {
    private let environment: [String: String]

    /// Credentials from the variables in `environment` (nothing is read from the process itself).
    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// Credentials from the process environment: the front ends' entry point (libraries never read it themselves).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> HostCredentials
    {
        HostCredentials(environment: environment)
    }

    /// No credentials at all.
    public static let none = HostCredentials(environment: [:])

    /// The shorthand variable name `COMFYLOCK_AUTH_<HOST>` for `host` (https, port 443 only).
    public static func variableName(forHost host: String) -> String { "COMFYLOCK_AUTH_" + mapped(host) }

    /// The variable name `COMFYLOCK_AUTH_<SCHEME>__<HOST>__<PORT>` for one origin.
    public static func variableName(scheme: String, host: String, port: Int) -> String {
        "COMFYLOCK_AUTH_" + mapped(scheme) + "__" + mapped(host) + "__" + String(port)
    }

    private static func mapped(_ text: String) -> String {
        String(
            text.uppercased().unicodeScalars.map { scalar -> Character in
                let c = Character(scalar)
                return (("A"..."Z").contains(c) || ("0"..."9").contains(c)) ? c : "_"
            })
    }

    /// The header to send to `url`, or `nil` when no credential applies to its origin (scheme, host, port).
    public func header(for url: URL) -> (name: String, value: String)? {
        guard let host = url.host?.lowercased(), !host.isEmpty, let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else { return nil }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        if let value = nonEmpty(environment[Self.variableName(scheme: scheme, host: host, port: port)]) {
            return Self.parse(value)
        }
        guard scheme == "https", port == 443 else { return nil }
        if let value = nonEmpty(environment[Self.variableName(forHost: host)]) {
            return Self.parse(value)
        }
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

/// The library boundary for error text: every error type that can carry server or tool text (`HTTPError` body
/// excerpts, `ModelError`, `RuntimeError`, `PythonError`) passes its message through `scrub`, which applies the one
/// redaction (`ComfySupport.Redaction`) with every secret the process holds in its environment — `HF_TOKEN`,
/// `CIVITAI_API_TOKEN`, `COMFYLOCK_AUTH_*`, `GCS_ACCESS_TOKEN`, `GOOGLE_OAUTH_ACCESS_TOKEN`, `RUNPOD_API_KEY` — plus
/// any `extra` values (e.g. the credential headers of the request that failed).
public enum SecretScrubber {
    /// Names of environment variables whose values are secrets.
    public static func isSecretVariable(_ name: String) -> Bool {
        ["HF_TOKEN", "CIVITAI_API_TOKEN", "GCS_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN", "RUNPOD_API_KEY"]
            .contains(name) || name.hasPrefix("COMFYLOCK_AUTH_")
    }

    /// The secret values of `environment` (and, for `Scheme value` / `Header: value` forms, the value part).
    public static func secrets(in environment: [String: String]) -> [String] {
        var out: [String] = []
        for (key, value) in environment where isSecretVariable(key) {
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.count >= 4 else { continue }
            out.append(trimmed)
            if let cut = trimmed.firstIndex(where: { $0 == " " || $0 == ":" }) {
                let rest = trimmed[trimmed.index(after: cut)...].trimmingCharacters(in: .whitespaces)
                if rest.count >= 4 { out.append(rest) }
            }
        }
        return out.sorted { $0.count > $1.count }
    }

    /// `text` with every known secret form masked.
    public static func scrub(_ text: String, extra: [String] = []) -> String {
        // The one deliberate read of the process environment in the libraries: secret values are scrubbed from
        // every error whatever the caller configured (a second line of defence behind messages built without them).
        Redaction.redact(
            text, secrets: (extra + secrets(in: ProcessInfo.processInfo.environment)).sorted { $0.count > $1.count })
    }
}
