// Upload a file to Google Cloud Storage and print a signed URL, with ComfyGCS alone.
//
//     GCS_BUCKET=my-bucket GOOGLE_APPLICATION_CREDENTIALS=key.json \
//         swift run --package-path Examples UploadToGCS out.png outputs/out.png
//
// Credentials are found in the documented order (service-account key, gcloud's application-default credentials,
// the metadata server; STORAGE_EMULATOR_HOST talks to an emulator without any). Size, CRC32C and MD5 are checked
// against the server's answer; large files go in a resumable session that survives failures.
import ComfyGCS
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: UploadToGCS FILE OBJECT   (bucket from GCS_BUCKET)\n".utf8))
    exit(2)
}

do {
    // fromEnvironment() is the only place ComfyGCS reads the environment; GCSConfiguration(bucket:...) is explicit.
    let configuration = GCSConfiguration.fromEnvironment()
    let client = try GCSClient(configuration: configuration, purpose: .upload)
    // A signed URL needs a service-account key; without one, upload without signedURLExpiration.
    let signed = configuration.credentialsPath != nil && configuration.emulatorHost == nil
    let result = try await client.upload(
        file: arguments[0], as: arguments[1],
        options: UploadOptions(ifGenerationMatch: 0, signedURLExpiration: signed ? 3600 : nil))
    print("uploaded \(result.uri) (\(result.size) bytes, crc32c \(result.crc32c))")
    if let url = result.signedURL { print("signed URL \(url)") }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
