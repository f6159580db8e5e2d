import Foundation
import TestSupport
import Testing

@testable import ComfyGCS

/// A token-endpoint or metadata stand-in plus the fault proxy in front of the emulator that accepts only the tokens
/// the stand-in issued.
struct AuthRig {
    let emulator: LoopbackServer
    let proxy: LoopbackServer
    let standIn: LoopbackServer
    let proxyLog: URL
    let issued: URL

    func stop() {
        standIn.stop()
        proxy.stop()
    }

    func stats() throws -> [String: Any] {
        let script = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + '/stats').read().decode())"
        let result = try Subprocess.run(TestPaths.python.path, ["-c", script, standIn.url])
        return try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
    }

    func count(_ key: String) throws -> Int { (try stats()[key] as? Int) ?? -1 }
}

func makeAuthRig(
    emulator: LoopbackServer, dir: TemporaryDirectory, mode: String, extra: [String] = [], iam: String? = nil
) throws -> AuthRig {
    let issued = dir.appending("issued-\(UUID().uuidString.prefix(6)).txt")
    _ = FileManager.default.createFile(atPath: issued.path, contents: nil)
    let publicKey = dir.appending("public.pem")
    try GCSFixtures.publicKeyPEMFromOpenSSL().write(to: publicKey, atomically: true, encoding: .utf8)
    let standIn = try LoopbackServer.script(
        "gcs_auth_standins.py",
        [
            "--mode", mode, "--issued-file", issued.path, "--public-key", publicKey.path,
            "--email", "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com",
        ] + extra,
        logDirectory: dir.url)
    let (proxy, log) = try startProxy(upstream: emulator, dir: dir, iam: iam, tokensFile: issued)
    return AuthRig(emulator: emulator, proxy: proxy, standIn: standIn, proxyLog: log, issued: issued)
}

/// A copy of the dummy service-account key whose token_uri points at the stand-in.
func serviceAccountFile(tokenURI: String, dir: TemporaryDirectory) throws -> URL {
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: GCSFixtures.keyFile)) as! [String: Any]
    json["token_uri"] = tokenURI
    let url = dir.appending("sa-\(UUID().uuidString.prefix(6)).json")
    try JSONSerialization.data(withJSONObject: json).write(to: url)
    return url
}

@Suite("Authentication against loopback stand-ins of the token endpoint and the metadata server")
struct AuthFlowTests {
    @Test("service account: the JWT is verified by the stand-in, the token is cached across operations")
    func serviceAccountFlow() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(
                emulator: emulator, dir: dir, mode: "token", iam: "storage.objects.create,storage.objects.get")
            defer { rig.stop() }
            let key = try serviceAccountFile(tokenURI: rig.standIn.url + "/token", dir: dir)
            let client = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: key.path, apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            #expect(
                client.authMethod
                    == .serviceAccount(email: "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com"))
            let report = try await client.checkAccess(signedURLs: true)
            #expect(report.permissionsGranted == ["storage.objects.create", "storage.objects.get"])
            let file = dir.appending("a.png")
            try makeRandomFile(file, size: 40_000)
            let result = try await client.upload(
                file: file.path, as: "auth/a.png", options: UploadOptions(signedURLExpiration: 600))
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            #expect(result.signedURL?.contains("X-Goog-Signature=") == true)
            #expect(try rig.count("jwt") == 1)
            #expect(try rig.count("rejected") == 0)
            #expect(try readProxyLog(rig.proxyLog).allSatisfy { $0.authorization && $0.action != "401" })
        }
    }

    @Test("concurrent callers share one token refresh")
    func sharedRefresh() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(emulator: emulator, dir: dir, mode: "token", extra: ["--delay", "0.5"])
            defer { rig.stop() }
            let key = try serviceAccountFile(tokenURI: rig.standIn.url + "/token", dir: dir)
            let client = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: key.path, apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 { group.addTask { try await client.accessToken()!.value } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(try rig.count("jwt") == 1)
        }
    }

    @Test("a token close to expiry is refreshed before use")
    func refreshBeforeExpiry() async throws {
        try await withEmulator { emulator, dir in
            // expires_in 60 s is inside the 5-minute refresh margin: every use refreshes.
            let rig = try makeAuthRig(emulator: emulator, dir: dir, mode: "token", extra: ["--expires-in", "60"])
            defer { rig.stop() }
            let key = try serviceAccountFile(tokenURI: rig.standIn.url + "/token", dir: dir)
            let client = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: key.path, apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            let first = try await client.accessToken()!.value
            let second = try await client.accessToken()!.value
            #expect(first != second)
            #expect(try rig.count("jwt") == 2)
        }
    }

    @Test("a 401 makes the client drop its cached token and fetch a new one, once")
    func unauthorizedRefreshes() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(emulator: emulator, dir: dir, mode: "token")
            defer { rig.stop() }
            let key = try serviceAccountFile(tokenURI: rig.standIn.url + "/token", dir: dir)
            let client = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: key.path, apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            _ = try await client.accessToken()
            try Data().write(to: rig.issued)  // revoke every issued token
            let small = dir.appending("r.bin")
            try makeRandomFile(small, size: 1000)
            let result = try await client.upload(file: small.path, as: "r.bin")
            try expectReadBack(result, original: small, emulator: emulator, dir: dir)
            try Data().write(to: rig.issued)
            let big = dir.appending("r2.bin")
            try makeRandomFile(big, size: 600_000)
            let resumable = try await client.upload(
                file: big.path, as: "r2.bin", options: UploadOptions(resumableThreshold: 0, chunkSize: 256 * 1024))
            try expectReadBack(resumable, original: big, emulator: emulator, dir: dir)
            #expect(try rig.count("jwt") == 3)
        }
    }

    @Test("authorized_user credentials use the refresh-token grant; a rejected grant's error holds no secret")
    func authorizedUser() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(
                emulator: emulator, dir: dir, mode: "token",
                extra: [
                    "--client-id", "cid", "--client-secret", "CLIENT-SECRET-123", "--refresh-token", "1//REFRESH-456",
                ])
            defer { rig.stop() }
            func userFile(_ secret: String) throws -> URL {
                let url = dir.appending("user-\(secret.prefix(3)).json")
                let json: [String: String] = [
                    "type": "authorized_user", "client_id": "cid", "client_secret": secret,
                    "refresh_token": "1//REFRESH-456", "token_uri": rig.standIn.url + "/token",
                ]
                try JSONSerialization.data(withJSONObject: json).write(to: url)
                return url
            }
            let good = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: try userFile("CLIENT-SECRET-123").path,
                    apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            #expect(good.authMethod == .authorizedUser)
            let file = dir.appending("u.bin")
            try makeRandomFile(file, size: 2048)
            let result = try await good.upload(file: file.path, as: "u.bin")
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            #expect(try rig.count("refresh") == 1)

            let bad = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", credentialsPath: try userFile("WRONG-SECRET-789").path,
                    apiEndpoint: rig.proxy.url),
                retryPolicy: testRetryPolicy)
            do {
                _ = try await bad.accessToken()
                Issue.record("a wrong secret got a token")
            } catch let error as GCSError {
                #expect(error.kind == .token)
                #expect(error.message.contains("invalid_grant"))
                for secret in ["WRONG-SECRET-789", "1//REFRESH-456", "CLIENT-SECRET-123"] {
                    #expect(!error.message.contains(secret))
                    #expect(!"\(error)".contains(secret))
                }
            }
        }
    }

    @Test("the metadata server (GCE_METADATA_HOST) provides tokens with Metadata-Flavor: Google")
    func metadataServer() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(emulator: emulator, dir: dir, mode: "metadata")
            defer { rig.stop() }
            let home = dir.appending("home")  // no gcloud ADC file there
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            let client = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", metadataHost: "127.0.0.1:\(rig.standIn.port)", apiEndpoint: rig.proxy.url,
                    homeDirectory: home.path),
                retryPolicy: testRetryPolicy)
            #expect(client.authMethod == .metadataServer(host: "127.0.0.1:\(rig.standIn.port)"))
            let file = dir.appending("m.bin")
            try makeRandomFile(file, size: 3000)
            let result = try await client.upload(file: file.path, as: "m.bin")
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            #expect(try rig.count("metadata") == 1)

            // A host that is not a metadata server (no Metadata-Flavor answer) is refused with a pointer to the fix.
            let notMetadata = try GCSClient(
                configuration: GCSConfiguration(
                    bucket: "test-bucket", metadataHost: "127.0.0.1:\(rig.proxy.port)", apiEndpoint: rig.proxy.url,
                    homeDirectory: home.path),
                retryPolicy: testRetryPolicy)
            do {
                _ = try await notMetadata.accessToken()
                Issue.record("got a token from a non-metadata host")
            } catch let error as GCSError {
                #expect(error.kind == .token)
            }
        }
    }

    @Test("a raw access token from the environment is used as is; a rejected one is never echoed")
    func rawToken() async throws {
        try await withEmulator { emulator, dir in
            let rig = try makeAuthRig(emulator: emulator, dir: dir, mode: "token")
            defer { rig.stop() }
            try "ya29.RAW-TOKEN-GOOD\n".write(to: rig.issued, atomically: true, encoding: .utf8)
            let env = [
                "GCS_BUCKET": "test-bucket", "GCS_API_ENDPOINT": rig.proxy.url,
                "GCS_ACCESS_TOKEN": "ya29.RAW-TOKEN-GOOD",
            ]
            let client = try GCSClient(configuration: .fromEnvironment(env), retryPolicy: testRetryPolicy)
            #expect(client.authMethod == .accessTokenEnvironment)
            let file = dir.appending("t.bin")
            try makeRandomFile(file, size: 500)
            let result = try await client.upload(file: file.path, as: "t.bin")
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)

            var badEnv = env
            badEnv["GCS_ACCESS_TOKEN"] = "ya29.RAW-TOKEN-BAD"
            let bad = try GCSClient(configuration: .fromEnvironment(badEnv), retryPolicy: testRetryPolicy)
            do {
                _ = try await bad.upload(file: file.path, as: "t2.bin")
                Issue.record("uploaded with a bad token")
            } catch let error as GCSError {
                #expect(error.kind == .permission)
                #expect(error.status == 401)
                #expect(!error.message.contains("RAW-TOKEN"))
            }
        }
    }
}
