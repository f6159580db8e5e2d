public import Foundation

/// Everything ComfyGCS needs to know, from the environment and/or flags, validated up front.
///
/// Environment variables (flags and API values override them):
/// `GCS_BUCKET`, `GCS_PREFIX`, `GOOGLE_CLOUD_PROJECT` / `GCS_PROJECT`, `GOOGLE_APPLICATION_CREDENTIALS`,
/// `STORAGE_EMULATOR_HOST` (emulator base URL: no auth), `GCS_ACCESS_TOKEN` / `GOOGLE_OAUTH_ACCESS_TOKEN`
/// (a raw OAuth access token), `GCE_METADATA_HOST` (metadata server override), `GCS_API_ENDPOINT`
/// (JSON API base URL, e.g. a private endpoint or a test server).
public struct GCSConfiguration: Sendable, CustomStringConvertible {
    /// Target bucket.
    public var bucket: String?
    /// Object-name prefix (no leading or trailing `/` needed).
    public var prefix: String
    /// Google Cloud project (informational; reported by `gcs check`).
    public var project: String?
    /// Path of a credentials JSON file (service account or authorized user).
    public var credentialsPath: String?
    /// Emulator base URL (`STORAGE_EMULATOR_HOST`); when set, requests go there without authentication.
    public var emulatorHost: String?
    /// A raw OAuth access token (secret: never printed).
    public var accessToken: String?
    /// Metadata server host (`GCE_METADATA_HOST`), default `metadata.google.internal`.
    public var metadataHost: String?
    /// JSON API base URL override (`GCS_API_ENDPOINT`), default `https://storage.googleapis.com`.
    public var apiEndpoint: String?
    /// Where the user's home directory is (for gcloud's application-default credentials file).
    public var homeDirectory: String?
    /// gcloud's configuration directory (`CLOUDSDK_CONFIG`), where application-default credentials are looked up;
    /// `nil` for `~/.config/gcloud` under `homeDirectory`.
    public var cloudSDKConfigDirectory: String?

    /// Creates a configuration from explicit values.
    public init(
        bucket: String? = nil, prefix: String = "", project: String? = nil, credentialsPath: String? = nil,
        emulatorHost: String? = nil, accessToken: String? = nil, metadataHost: String? = nil,
        apiEndpoint: String? = nil, homeDirectory: String? = nil, cloudSDKConfigDirectory: String? = nil
    ) {
        self.bucket = bucket
        self.prefix = prefix
        self.project = project
        self.credentialsPath = credentialsPath
        self.emulatorHost = emulatorHost
        self.accessToken = accessToken
        self.metadataHost = metadataHost
        self.apiEndpoint = apiEndpoint
        self.homeDirectory = homeDirectory
        self.cloudSDKConfigDirectory = cloudSDKConfigDirectory
    }

    /// Reads the configuration from environment variables (empty values count as unset): `GCS_BUCKET`,
    /// `GCS_PREFIX`, `GOOGLE_CLOUD_PROJECT` / `GCS_PROJECT`, `GOOGLE_APPLICATION_CREDENTIALS` (key file),
    /// `STORAGE_EMULATOR_HOST` (the emulator's base URL, `host:port` accepted; no authentication),
    /// `GCS_ACCESS_TOKEN` / `GOOGLE_OAUTH_ACCESS_TOKEN` (a raw token), `GCE_METADATA_HOST`, `GCS_API_ENDPOINT` (the
    /// JSON API base, e.g. a private endpoint), `CLOUDSDK_CONFIG` and `HOME` (gcloud's application-default file).
    /// Front ends then override fields with their flags.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> GCSConfiguration
    {
        func value(_ names: String...) -> String? {
            for name in names {
                if let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty { return v }
            }
            return nil
        }
        return GCSConfiguration(
            bucket: value("GCS_BUCKET"), prefix: value("GCS_PREFIX") ?? "",
            project: value("GOOGLE_CLOUD_PROJECT", "GCS_PROJECT"),
            credentialsPath: value("GOOGLE_APPLICATION_CREDENTIALS"), emulatorHost: value("STORAGE_EMULATOR_HOST"),
            accessToken: value("GCS_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"),
            metadataHost: value("GCE_METADATA_HOST"),
            apiEndpoint: value("GCS_API_ENDPOINT"), homeDirectory: value("HOME"),
            cloudSDKConfigDirectory: value("CLOUDSDK_CONFIG"))
    }

    /// What the configuration will be used for (decides what is required).
    public enum Purpose: Sendable {
        /// Uploading objects: needs a bucket and some credentials (or the emulator).
        case upload
        /// Checking access: same needs as `upload`.
        case check
        /// Signing URLs: needs a bucket and a service-account key file.
        case sign
    }

    /// The JSON API base URL requests go to (emulator, override, or Google's), without a trailing `/`.
    public var resolvedEndpoint: String {
        var base = emulatorHost ?? apiEndpoint ?? GoogleEndpoints.storageAPI
        if !base.contains("://") { base = "http://" + base }  // STORAGE_EMULATOR_HOST=host:port, as Google's clients
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// True when requests go to an emulator (no authentication).
    public var usesEmulator: Bool { emulatorHost != nil }

    /// The prefix without leading/trailing slashes.
    public var normalizedPrefix: String { prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }

    /// Checks everything at once and throws one `.configuration` error listing every problem — a missing bucket, a
    /// bad bucket name or prefix, a non-http emulator URL, a missing or unreadable key file, signing without a key —
    /// each naming the variable or flag to fix.
    public func validate(for purpose: Purpose) throws {
        var problems: [String] = []
        if let bucket {
            if let reason = Self.bucketNameProblem(bucket) {
                problems.append("bucket \"\(bucket.debugEscaped)\" (GCS_BUCKET / --bucket) is invalid: \(reason)")
            }
        } else {
            problems.append("no bucket: set GCS_BUCKET or pass --bucket")
        }
        if !prefix.isEmpty, let reason = ObjectNaming.prefixProblem(prefix) {
            problems.append("prefix \"\(prefix.debugEscaped)\" (GCS_PREFIX) is invalid: \(reason)")
        }
        if let project, project.contains(where: { $0.isWhitespace || $0 == "/" }) {
            problems.append(
                "project \"\(project.debugEscaped)\" (GOOGLE_CLOUD_PROJECT / GCS_PROJECT) is not a project id")
        }
        for (name, value) in [("STORAGE_EMULATOR_HOST", emulatorHost), ("GCS_API_ENDPOINT", apiEndpoint)] {
            guard let value else { continue }
            let withScheme = value.contains("://") ? value : "http://" + value
            guard let url = URL(string: withScheme), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host?.isEmpty == false
            else {
                problems.append("\(name) \"\(value.debugEscaped)\" is not an http(s) URL like http://127.0.0.1:9023")
                continue
            }
        }
        if let metadataHost, metadataHost.contains("/") || metadataHost.isEmpty {
            problems.append("GCE_METADATA_HOST \"\(metadataHost.debugEscaped)\" must be host[:port] without a scheme")
        }
        if let path = credentialsPath {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                problems.append("credentials file \(path) (GOOGLE_APPLICATION_CREDENTIALS / --key) does not exist")
            } else if isDirectory.boolValue {
                problems.append("credentials file \(path) (GOOGLE_APPLICATION_CREDENTIALS / --key) is a directory")
            } else if !FileManager.default.isReadableFile(atPath: path) {
                problems.append("credentials file \(path) (GOOGLE_APPLICATION_CREDENTIALS / --key) is not readable")
            }
        }
        if purpose == .sign && credentialsPath == nil {
            problems.append(
                "signing URLs needs a service-account key file: set GOOGLE_APPLICATION_CREDENTIALS or pass --key")
        }
        if let accessToken, accessToken.contains(where: { $0.isWhitespace || $0.isNewline }) {
            problems.append("GCS_ACCESS_TOKEN / GOOGLE_OAUTH_ACCESS_TOKEN contains whitespace (value not shown)")
        }
        if !problems.isEmpty { throw GCSError.configuration(problems) }
    }

    /// Why `name` is not a valid bucket name, or `nil` when it is.
    public static func bucketNameProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        if name.count < 3 || name.count > 222 { return "bucket names have 3 to 222 characters" }
        if !name.allSatisfy({ allowed.contains($0) }) {
            return "only lowercase letters, digits, '-', '_' and '.' are allowed"
        }
        if let first = name.first, let last = name.last,
            !(first.isLetter || first.isNumber)
                || !(last.isLetter || last.isNumber)
        {
            return "it must start and end with a letter or digit"
        }
        if name.split(separator: ".").contains(where: { $0.count > 63 }) {
            return "each dot-separated part has at most 63 characters"
        }
        if name.hasPrefix("goog") { return "names starting with \"goog\" are reserved" }
        return nil
    }

    /// Shows where things point, never a secret.
    public var description: String {
        var parts = ["bucket=\(bucket ?? "<unset>")", "prefix=\(prefix)", "endpoint=\(resolvedEndpoint)"]
        if let project { parts.append("project=\(project)") }
        if let credentialsPath { parts.append("credentials=\(credentialsPath)") }
        if accessToken != nil { parts.append("accessToken=<redacted>") }
        if let metadataHost { parts.append("metadataHost=\(metadataHost)") }
        return "GCSConfiguration(" + parts.joined(separator: ", ") + ")"
    }
}
