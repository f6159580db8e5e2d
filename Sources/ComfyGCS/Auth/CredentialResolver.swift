import ComfyTransport
import Foundation

/// Finds credentials in this order (the first that applies wins):
/// 1. `STORAGE_EMULATOR_HOST` set → the emulator, no authentication;
/// 2. a raw access token in `GCS_ACCESS_TOKEN` / `GOOGLE_OAUTH_ACCESS_TOKEN`;
/// 3. the credentials file in `GOOGLE_APPLICATION_CREDENTIALS` (or `--key`): service account or authorized user;
/// 4. gcloud's application-default credentials file (`$CLOUDSDK_CONFIG` or `~/.config/gcloud`
///    `/application_default_credentials.json`);
/// 5. the metadata server (`GCE_METADATA_HOST`, default `metadata.google.internal`).
enum CredentialResolver {
    struct Resolved: Sendable {
        let method: AuthMethod
        let cache: TokenCache?
        let secrets: [String]
    }

    static func resolve(
        _ configuration: GCSConfiguration, transport: GCSTransport, policy: RetryPolicy,
        scopes: [String] = [GoogleEndpoints.readWriteScope]
    ) throws -> Resolved {
        if configuration.usesEmulator { return Resolved(method: .emulator, cache: nil, secrets: []) }
        if let token = configuration.accessToken {
            let fetcher = StaticTokenFetcher(token: token)
            return Resolved(method: .accessTokenEnvironment, cache: TokenCache(fetcher: fetcher), secrets: [token])
        }
        var file = configuration.credentialsPath
        if file == nil {
            let configDir =
                configuration.cloudSDKConfigDirectory
                ?? configuration.homeDirectory.map { $0 + "/.config/gcloud" }
            if let configDir {
                let adc = configDir + "/application_default_credentials.json"
                if FileManager.default.fileExists(atPath: adc) { file = adc }
            }
        }
        if let file {
            switch try CredentialsFile.load(path: file) {
            case .serviceAccount(let key):
                let fetcher = ServiceAccountTokenFetcher(key: key, scopes: scopes, transport: transport, policy: policy)
                return Resolved(
                    method: .serviceAccount(email: key.clientEmail), cache: TokenCache(fetcher: fetcher), secrets: [])
            case .authorizedUser(let credentials):
                let fetcher = AuthorizedUserTokenFetcher(credentials: credentials, transport: transport, policy: policy)
                return Resolved(method: .authorizedUser, cache: TokenCache(fetcher: fetcher), secrets: fetcher.secrets)
            }
        }
        let host = configuration.metadataHost ?? GoogleEndpoints.metadataHost
        let metadataPolicy = RetryPolicy(
            maxAttempts: min(policy.maxAttempts, 3), initialDelay: min(policy.initialDelay, .milliseconds(500)),
            maxDelay: .seconds(2), multiplier: policy.multiplier, jitter: policy.jitter, maxRetryAfter: .seconds(2),
            totalTimeout: .seconds(10))
        let fetcher = MetadataServerTokenFetcher(
            host: host, scopes: scopes, transport: transport, policy: metadataPolicy)
        return Resolved(method: .metadataServer(host: host), cache: TokenCache(fetcher: fetcher), secrets: [])
    }
}
