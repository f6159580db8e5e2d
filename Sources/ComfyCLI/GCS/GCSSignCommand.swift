import ArgumentParser
import ComfyGCS
import Foundation

/// `comfy-cli gcs sign`: prints a V4 signed URL (pure: no network).
struct GCSSignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Print a V4 signed URL for an object or bucket.")

    enum URLStyleOption: String, ExpressibleByArgument, CaseIterable {
        case path
        case virtualHosted = "virtual-hosted"
        case bucketBound = "bucket-bound"
    }

    @Option(help: "Bucket name (default: $GCS_BUCKET).")
    var bucket: String?
    @Option(help: "Object name; omit to sign the bucket itself.")
    var object: String?
    @Option(help: "HTTP method the URL allows.")
    var method: String = "GET"
    @Option(help: "Validity in seconds, at most 604800 (7 days).")
    var expires: Int = 3600
    @Option(help: "Service-account key file (default: $GOOGLE_APPLICATION_CREDENTIALS).")
    var key: String?
    @Option(help: "Signing time as ISO 8601 UTC, e.g. 2019-02-01T09:00:00Z (default: now).")
    var timestamp: String?
    @Option(name: .customLong("header"), help: "A header the URL's user must send, as 'Name: value' (repeatable).")
    var headers: [String] = []
    @Option(
        name: .customLong("query"), help: "An extra signed query parameter, name=value, percent-encoded (repeatable).")
    var queries: [String] = []
    @Option(help: "URL style: path, virtual-hosted or bucket-bound.")
    var urlStyle: URLStyleOption = .path
    @Option(help: "Endpoint host (path and virtual-hosted styles) or the bound host name (bucket-bound).")
    var host: String?
    @Option(help: "URL scheme: https or http.")
    var scheme: String = "https"

    /// Usage checks, before `run()` (the CLI maps the parser's usage exit to 2).
    func validate() throws {
        if urlStyle == .bucketBound && (host ?? "").isEmpty {
            throw ValidationError("--url-style bucket-bound needs --host with the host name bound to the bucket.")
        }
        if expires < 1 || expires > SignedURLRequest.maximumExpiration {
            throw ValidationError("--expires must be 1 to 604800 seconds (7 days); got \(expires).")
        }
        if scheme != "https" && scheme != "http" { throw ValidationError("--scheme must be https or http.") }
    }

    func run() async throws {
        let configuration = gcsConfiguration(bucket: bucket, key: key)
        do {
            try configuration.validate(for: .sign)
            guard case .serviceAccount(let account) = try CredentialsFile.load(path: configuration.credentialsPath!)
            else {
                throw ValidationError(
                    "\(configuration.credentialsPath!) holds authorized_user credentials; signing needs a "
                        + "service-account key.")
            }
            var request = SignedURLRequest(
                bucket: configuration.bucket!, object: object, method: method.uppercased(), expiration: expires,
                timestamp: try parseTimestamp(), headers: try parseHeaders(), queryParameters: try parseQueries(),
                host: host, scheme: scheme)
            switch urlStyle {
            case .path: request.style = .pathStyle
            case .virtualHosted: request.style = .virtualHosted
            case .bucketBound:
                request.style = .bucketBound(hostname: host!)
                request.host = nil
            }
            Console.current.out(try V4Signer.sign(request, key: account).url)
        } catch let error as ValidationError {
            Console.current.err("error: \(error.message)")
            throw ExitCode(ExitStatus.error)
        } catch {
            try reportGCSFailure(error, json: false)
        }
    }

    func parseTimestamp() throws -> Date {
        guard let timestamp else { return Date() }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: timestamp) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: timestamp) { return date }
        throw ValidationError("--timestamp \"\(timestamp)\" is not ISO 8601 like 2019-02-01T09:00:00Z.")
    }

    func parseHeaders() throws -> [SignedURLField] {
        try headers.map { raw in
            guard let colon = raw.firstIndex(of: ":"), colon != raw.startIndex else {
                throw ValidationError("--header \"\(raw)\" is not 'Name: value'.")
            }
            let name = raw[..<colon].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw ValidationError("--header \"\(raw)\" has an empty name.") }
            return SignedURLField(name, String(raw[raw.index(after: colon)...]))
        }
    }

    func parseQueries() throws -> [SignedURLField] {
        try queries.map { raw in
            let parts = raw.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = String(parts[0]).removingPercentEncoding, !name.isEmpty,
                let value = (parts.count > 1 ? String(parts[1]) : "").removingPercentEncoding
            else {
                throw ValidationError(
                    "--query \"\(raw)\" is not name=value with valid percent-encoding (write '=' '&' '%' as %3D %26 %25)."
                )
            }
            return SignedURLField(name, value)
        }
    }
}
