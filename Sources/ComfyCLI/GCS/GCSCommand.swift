import ArgumentParser
import ComfyGCS
import Foundation

/// `comfy-cli gcs`: sign URLs, upload files and check access to a Google Cloud Storage bucket.
struct GCSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gcs",
        abstract: "Upload outputs to Google Cloud Storage, sign URLs and check access.",
        discussion: """
            Configuration comes from the environment and flags: GCS_BUCKET, GCS_PREFIX, GOOGLE_CLOUD_PROJECT / \
            GCS_PROJECT, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST, GCS_ACCESS_TOKEN / \
            GOOGLE_OAUTH_ACCESS_TOKEN, GCE_METADATA_HOST, GCS_API_ENDPOINT.
            """,
        subcommands: [GCSSignCommand.self, GCSUploadCommand.self, GCSCheckCommand.self])
}

/// Reports a GCS failure on standard error (the message never contains secrets) and picks the exit code.
func reportGCSFailure(_ error: any Error, json: Bool, checkFailureCode: Int32 = ExitStatus.error) throws -> Never {
    let message: String
    var code: Int32 = ExitStatus.error
    if let gcs = error as? GCSError {
        message = gcs.message
        if gcs.kind == .permission || gcs.kind == .integrityMismatch || gcs.status == 404 { code = checkFailureCode }
    } else if error is CancellationError {
        message = "cancelled"
    } else {
        message = String(describing: error)
    }
    if json {
        struct Failure: Encodable {
            let ok: Bool
            let error: String
        }
        try? Console.current.json(Failure(ok: false, error: message))
    }
    Console.current.err("error: " + message)
    throw ExitCode(code)
}

/// Applies flag values over the environment's configuration.
func gcsConfiguration(bucket: String?, key: String?) -> GCSConfiguration {
    var configuration = GCSConfiguration.fromEnvironment()
    if let bucket { configuration.bucket = bucket }
    if let key { configuration.credentialsPath = key }
    return configuration
}
