import ComfyGCS
import Foundation
import TestSupport

/// The copied conformance vectors and the dummy service account (Tests/Fixtures/vectors/gcs).
enum GCSFixtures {
    static let directory = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/vectors/gcs")
    static let keyFile = directory.appendingPathComponent("test_service_account.not-a-test.json")

    static func serviceAccount() throws -> ServiceAccountKey {
        guard case .serviceAccount(let key) = try CredentialsFile.load(path: keyFile.path) else {
            fatalError("the fixture key is a service account")
        }
        return key
    }

    /// The raw private key PEM of the dummy account (to derive its public key with the openssl CLI).
    static func privateKeyPEM() throws -> String {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: keyFile)) as! [String: Any]
        return json["private_key"] as! String
    }

    /// The public key, derived independently by the `openssl` command-line tool.
    static func publicKeyPEMFromOpenSSL() throws -> String {
        let result = try Subprocess.run(
            "/usr/bin/openssl", ["pkey", "-pubout"], input: Data(try privateKeyPEM().utf8))
        precondition(result.status == 0, "openssl pkey failed: \(result.standardError)")
        return result.standardOutput
    }

    struct SigningCase: Decodable {
        var description: String
        var bucket: String
        var object: String?
        var method: String
        var expiration: Int
        var timestamp: String
        var expectedUrl: String
        var scheme: String?
        var headers: [String: String]?
        var queryParameters: [String: String]?
        var urlStyle: String?
        var bucketBoundHostname: String?
        var expectedCanonicalRequest: String
        var expectedStringToSign: String
        var hostname: String?
        var clientEndpoint: String?
        var emulatorHostname: String?
        var universeDomain: String?
    }

    static func signingCases() throws -> [SigningCase] {
        struct File: Decodable { var signingV4Tests: [SigningCase] }
        let data = try Data(contentsOf: directory.appendingPathComponent("v4_signatures.json"))
        return try JSONDecoder().decode(File.self, from: data).signingV4Tests
    }
}
