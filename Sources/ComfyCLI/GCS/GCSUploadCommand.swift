import ArgumentParser
import ComfyGCS
import Foundation

/// `comfy-cli gcs upload`: uploads one file with integrity checks and reports where it went.
struct GCSUploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload", abstract: "Upload a file to Google Cloud Storage and verify its checksums.")

    @Argument(help: "The file to upload.")
    var file: String
    @Option(help: "Bucket name (default: $GCS_BUCKET).")
    var bucket: String?
    @Option(help: "Object name (default: $GCS_PREFIX/<file name>).")
    var object: String?
    @Option(help: "Also print a V4 signed GET URL valid this many seconds (at most 604800).")
    var signExpires: Int?
    @Option(help: "Credentials file (default: $GOOGLE_APPLICATION_CREDENTIALS).")
    var key: String?
    @Flag(help: "Fail instead of overwriting an existing object (ifGenerationMatch=0).")
    var createOnly = false
    @Option(help: "Resumable chunk size in MiB (a multiple of 0.25).")
    var chunkSize: Double = 100
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    /// Usage checks, before `run()` (the CLI maps the parser's usage exit to 2).
    func validate() throws {
        if let signExpires, signExpires < 1 || signExpires > SignedURLRequest.maximumExpiration {
            throw ValidationError("--sign-expires must be 1 to 604800 seconds (7 days); got \(signExpires).")
        }
        let bytes = chunkSize * 1024 * 1024
        if bytes <= 0 || bytes.rounded() != bytes || Int(bytes) % UploadOptions.chunkGranularity != 0 {
            throw ValidationError("--chunk-size must be a positive multiple of 0.25 MiB (256 KiB).")
        }
    }

    func run() async throws {
        let configuration = gcsConfiguration(bucket: bucket, key: key)
        do {
            let name: String
            if let object {
                try ObjectNaming.validate(object)
                name = object
            } else {
                name = try ObjectNaming.objectName(
                    prefix: configuration.prefix, jobID: nil, fileName: (file as NSString).lastPathComponent)
            }
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw ValidationError("cannot read \(file): no such file or not readable.")
            }
            let client = try GCSClient(
                configuration: configuration, purpose: .upload,
                logger: logging.logger(secrets: [configuration.accessToken].compactMap { $0 }))
            let options = UploadOptions(
                ifGenerationMatch: createOnly ? 0 : nil, chunkSize: Int(chunkSize * 1024 * 1024),
                signedURLExpiration: signExpires)
            let console = Console.current
            let showProgress = console.isTerminal && !json
            let result = try await client.upload(file: file, as: name, options: options) { progress in
                guard showProgress, progress.totalBytes > 0 else { return }
                let percent = Int(progress.bytesSent * 100 / progress.totalBytes)
                console.writeError("\ruploading \(name): \(percent)% of \(progress.totalBytes) bytes")
            }
            if showProgress { console.writeError("\n") }
            if json {
                try console.json(result)
            } else {
                console.out(
                    "\(result.uri) \(result.size) bytes crc32c=\(result.crc32c) md5=\(result.md5)"
                        + (result.generation.map { " generation=\($0)" } ?? ""))
                if let url = result.signedURL { console.out(url) }
            }
        } catch let error as ValidationError {
            Console.current.err("error: \(error.message)")
            throw ExitCode(ExitStatus.error)
        } catch {
            try reportGCSFailure(error, json: json)
        }
    }
}

/// `comfy-cli gcs check`: authentication, bucket and permissions.
struct GCSCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that authentication works, the bucket is reachable and permissions are held.")

    @Option(help: "Bucket name (default: $GCS_BUCKET).")
    var bucket: String?
    @Option(help: "Credentials file (default: $GOOGLE_APPLICATION_CREDENTIALS).")
    var key: String?
    @Flag(help: "Also require what handing out signed URLs needs (storage.objects.get and a service-account key).")
    var signedUrls = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    func run() async throws {
        let configuration = gcsConfiguration(bucket: bucket, key: key)
        do {
            let client = try GCSClient(
                configuration: configuration, purpose: .check,
                logger: logging.logger(secrets: [configuration.accessToken].compactMap { $0 }))
            let report = try await client.checkAccess(signedURLs: signedUrls)
            if json {
                struct Output: Encodable {
                    let ok: Bool
                    let report: AccessReport
                }
                try Console.current.json(Output(ok: true, report: report))
            } else {
                Console.current.out("auth: \(report.auth)")
                Console.current.out("bucket: gs://\(report.bucket) at \(report.endpoint)")
                if let granted = report.permissionsGranted {
                    Console.current.out("permissions held: \(granted.joined(separator: ", "))")
                }
                for note in report.notes { Console.current.out("note: \(note)") }
                Console.current.out("ok")
            }
        } catch {
            try reportGCSFailure(error, json: json, checkFailureCode: ExitStatus.checkFailed)
        }
    }
}
