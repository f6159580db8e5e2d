import ComfyCLI
import ComfyCrypto
import ComfyGCS
import Foundation
import TestSupport
import Testing

@Suite("V4 signed URLs: Google's conformance vectors")
struct V4SigningTests {
    static let cases = (try? GCSFixtures.signingCases()) ?? []
    /// Known upstream defect: this case's expectedCanonicalRequest keeps the bucket in the path of a
    /// virtual-hosted URL; its URL and string-to-sign (which hashes the correct canonical request) are right.
    static let badCanonicalRequest = "Universe domain with virtual hosted style"

    @Test("the fixture holds all 29 signing cases")
    func allCasesPresent() {
        #expect(Self.cases.count == 29)
    }

    /// Maps a vector's endpoint fields to (style, host, scheme) the way Google's clients resolve them:
    /// hostname > client endpoint > emulator host > universe domain > storage.googleapis.com.
    static func request(for vector: GCSFixtures.SigningCase) throws -> SignedURLRequest {
        var scheme = vector.scheme ?? "https"
        var host: String?
        for candidate in [vector.hostname, vector.clientEndpoint, vector.emulatorHostname] {
            guard let candidate else { continue }
            if let range = candidate.range(of: "://") {
                scheme = String(candidate[..<range.lowerBound])
                host = String(candidate[range.upperBound...])
            } else {
                host = candidate
            }
            break
        }
        if host == nil, let domain = vector.universeDomain { host = "storage." + domain }
        let style: SignedURLRequest.URLStyle =
            switch vector.urlStyle {
            case "VIRTUAL_HOSTED_STYLE": .virtualHosted
            case "BUCKET_BOUND_HOSTNAME": .bucketBound(hostname: vector.bucketBoundHostname!)
            default: .pathStyle
            }
        let timestamp = try #require(ISO8601DateFormatter().date(from: vector.timestamp))
        return SignedURLRequest(
            bucket: vector.bucket, object: vector.object, method: vector.method, expiration: vector.expiration,
            timestamp: timestamp,
            headers: (vector.headers ?? [:]).sorted { $0.key < $1.key }.map { SignedURLField($0.key, $0.value) },
            queryParameters: (vector.queryParameters ?? [:]).sorted { $0.key < $1.key }.map {
                SignedURLField($0.key, $0.value)
            }, style: style, host: host, scheme: scheme)
    }

    @Test("URL, string-to-sign and canonical request match", arguments: cases.map(\.description))
    func vector(description: String) throws {
        let vector = try #require(Self.cases.first { $0.description == description })
        let signed = try V4Signer.sign(try Self.request(for: vector), key: try GCSFixtures.serviceAccount())
        #expect(signed.url == vector.expectedUrl)
        #expect(signed.stringToSign == vector.expectedStringToSign)
        if description != Self.badCanonicalRequest {
            #expect(signed.canonicalRequest == vector.expectedCanonicalRequest)
        }
    }

    @Test("the known-bad vector's expected canonical request is indeed inconsistent with its own string-to-sign")
    func badVectorIsBad() throws {
        let vector = try #require(Self.cases.first { $0.description == Self.badCanonicalRequest })
        let hash = SHA256Hex.of(vector.expectedCanonicalRequest)
        #expect(!vector.expectedStringToSign.hasSuffix(hash))
        let signed = try V4Signer.sign(try Self.request(for: vector), key: try GCSFixtures.serviceAccount())
        #expect(vector.expectedStringToSign.hasSuffix(SHA256Hex.of(signed.canonicalRequest)))
    }

    /// The CLI contract: `gcs sign` prints exactly the expected URL for every vector (flags only, in-process).
    @Test("comfy-cli gcs sign prints the expected URL", arguments: cases.map(\.description))
    func cliVector(description: String) async throws {
        let vector = try #require(Self.cases.first { $0.description == description })
        let request = try Self.request(for: vector)
        var arguments = [
            "gcs", "sign", "--bucket", vector.bucket, "--method", vector.method, "--expires", String(vector.expiration),
            "--key", GCSFixtures.keyFile.path, "--timestamp", vector.timestamp, "--scheme", request.scheme,
        ]
        if let object = vector.object { arguments += ["--object", object] }
        for header in request.headers { arguments += ["--header", "\(header.name):\(header.value)"] }
        for query in request.queryParameters {
            arguments += [
                "--query",
                query.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! + "="
                    + query.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
            ]
        }
        switch request.style {
        case .pathStyle:
            arguments += ["--url-style", "path"]
            if let host = request.host { arguments += ["--host", host] }
        case .virtualHosted:
            arguments += ["--url-style", "virtual-hosted"]
            if let host = request.host { arguments += ["--host", host] }
        case .bucketBound(let hostname): arguments += ["--url-style", "bucket-bound", "--host", hostname]
        }
        let capture = CapturingConsole()
        let code = await Console.$current.withValue(capture.console) { await CLI.run(arguments) }
        #expect(code == 0, "\(capture.standardError)")
        #expect(capture.standardOutput == vector.expectedUrl + "\n")
    }

    @Test("expiry beyond 7 days, a bad method or an empty bound host is refused with a clear message")
    func invalidRequests() throws {
        let key = try GCSFixtures.serviceAccount()
        let tooLong = SignedURLRequest(bucket: "b-1", object: "o", expiration: 604_801)
        #expect(throws: GCSError.self) { try V4Signer.sign(tooLong, key: key) }
        do {
            _ = try V4Signer.sign(tooLong, key: key)
        } catch let error as GCSError {
            #expect(error.kind == .signing)
            #expect(error.message.contains("604800"))
        }
        #expect(throws: GCSError.self) {
            try V4Signer.sign(SignedURLRequest(bucket: "b-1", object: "o", method: "BREW"), key: key)
        }
        #expect(throws: GCSError.self) {
            try V4Signer.sign(SignedURLRequest(bucket: "b-1", object: "o", style: .bucketBound(hostname: "")), key: key)
        }
        // Exactly 7 days is allowed.
        _ = try V4Signer.sign(SignedURLRequest(bucket: "b-1", object: "o", expiration: 604_800), key: key)
    }

    @Test("the CLI refuses --expires over 7 days and a missing key, naming the fix")
    func cliErrors() async throws {
        let capture = CapturingConsole()
        var code = await Console.$current.withValue(capture.console) {
            await CLI.run([
                "gcs", "sign", "--bucket", "b-1", "--object", "o", "--expires", "700000", "--key",
                GCSFixtures.keyFile.path,
            ])
        }
        #expect(code == 2)
        #expect(capture.standardError.contains("604800"))
        let missing = CapturingConsole()
        code = await Console.$current.withValue(missing.console) {
            await CLI.run(["gcs", "sign", "--bucket", "b-1", "--object", "o", "--key", "/nonexistent/key.json"])
        }
        #expect(code == 2)
        #expect(missing.standardError.contains("/nonexistent/key.json"))
        #expect(missing.standardOutput.isEmpty)
    }

    @Test("the signed URL verifies with the public key derived by the openssl CLI")
    func signatureVerifiesWithOpenSSL() throws {
        let key = try GCSFixtures.serviceAccount()
        let signed = try V4Signer.sign(SignedURLRequest(bucket: "b-1", object: "a/b c.png", expiration: 60), key: key)
        let signatureHex = try #require(signed.url.components(separatedBy: "X-Goog-Signature=").last)
        let publicKey = try RSAPublicKey(pem: try GCSFixtures.publicKeyPEMFromOpenSSL())
        let signature = try #require(ComfyCryptoHex.decode(signatureHex))
        #expect(publicKey.verifySHA256(signature: signature, message: Array(signed.stringToSign.utf8)))
        #expect(signed.url.contains("/b-1/a/b%20c.png?"))
    }
}
