import ComfyGCS
import Foundation
import TestSupport
import Testing

/// `comfy-cli gcs upload` / `gcs check` run as the real executable with the environment the CLI contract names.
@Suite("comfy-cli gcs upload and check (real executable)")
struct CLIGCSTests {
    /// Environment that isolates the CLI from the machine's own Google settings.
    static func environment(_ extra: [String: String], home: URL) -> [String: String] {
        var env = [
            "HOME": home.path, "GOOGLE_APPLICATION_CREDENTIALS": "", "STORAGE_EMULATOR_HOST": "", "GCS_BUCKET": "",
            "GCS_PREFIX": "", "GCS_ACCESS_TOKEN": "", "GOOGLE_OAUTH_ACCESS_TOKEN": "", "GCE_METADATA_HOST": "",
            "GCS_API_ENDPOINT": "", "CLOUDSDK_CONFIG": home.appendingPathComponent("gcloud").path,
        ]
        env.merge(extra) { $1 }
        return env
    }

    @Test("upload --json reports uri, size, checksums, generation and a signed URL that downloads the bytes")
    func uploadJSON() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("out 1.png")
            try makeRandomFile(file, size: 70_001)
            let env = Self.environment(
                [
                    "STORAGE_EMULATOR_HOST": emulator.url, "GCS_BUCKET": "test-bucket", "GCS_PREFIX": "outputs/",
                    "GOOGLE_APPLICATION_CREDENTIALS": GCSFixtures.keyFile.path,
                ], home: dir.url)
            let run = try Subprocess.comfyCLI(
                ["gcs", "upload", file.path, "--sign-expires", "600", "--json"], environment: env)
            #expect(run.status == 0, "\(run.standardError)")
            let result = try JSONDecoder().decode(UploadResult.self, from: Data(run.standardOutput.utf8))
            #expect(result.uri == "gs://test-bucket/outputs/out 1.png")
            #expect(result.size == 70_001)
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            let signed = try #require(result.signedURL)
            #expect(
                signed.hasPrefix(emulator.url + "/test-bucket/outputs/out%201.png?X-Goog-Algorithm=GOOG4-RSA-SHA256"))
            let fetched = dir.appending("via-signed-url")
            let script =
                "import sys, urllib.request; open(sys.argv[2], 'wb').write(urllib.request.urlopen(sys.argv[1]).read())"
            let download = try Subprocess.run(TestPaths.python.path, ["-c", script, signed, fetched.path])
            #expect(download.status == 0, "\(download.standardError)")
            #expect(try Data(contentsOf: fetched) == Data(contentsOf: file))
        }
    }

    @Test("upload --object with a large file and a small chunk size prints one line per result")
    func uploadPlain() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("big.bin")
            try makeRandomFile(file, size: 9 * 1024 * 1024 + 3)
            let env = Self.environment(["STORAGE_EMULATOR_HOST": emulator.url], home: dir.url)
            let run = try Subprocess.comfyCLI(
                ["gcs", "upload", file.path, "--bucket", "test-bucket", "--object", "x/big.bin", "--chunk-size", "2"],
                environment: env)
            #expect(run.status == 0, "\(run.standardError)")
            #expect(run.standardOutput.hasPrefix("gs://test-bucket/x/big.bin 9437187 bytes crc32c="))
            let copy = dir.appending("copy")
            _ = try GoogleClientReader.download(object: "x/big.bin", emulator: emulator.url, to: copy)
            #expect(try Data(contentsOf: copy) == Data(contentsOf: file))
        }
    }

    @Test("check against the emulator: bucket reachable, IAM not available (noted); a missing bucket fails with 1")
    func checkEmulator() async throws {
        try await withEmulator { emulator, dir in
            let env = Self.environment(
                ["STORAGE_EMULATOR_HOST": emulator.url, "GCS_BUCKET": "test-bucket"], home: dir.url)
            let ok = try Subprocess.comfyCLI(["gcs", "check", "--json"], environment: env)
            #expect(ok.status == 0, "\(ok.standardError)")
            #expect(ok.standardOutput.contains("\"ok\" : true"))
            #expect(ok.standardOutput.contains("permissions not checked"))
            let missing = try Subprocess.comfyCLI(["gcs", "check", "--bucket", "no-such-bucket"], environment: env)
            #expect(missing.status == 1)
            #expect(missing.standardError.contains("gs://no-such-bucket"))
        }
    }

    @Test("check names the missing permission and bucket (exit 1) when signed URLs need storage.objects.get")
    func checkMissingPermission() async throws {
        try await withEmulator { emulator, dir in
            let (proxy, _) = try startProxy(upstream: emulator, dir: dir, iam: "storage.objects.create")
            defer { proxy.stop() }
            let env = Self.environment(
                [
                    "STORAGE_EMULATOR_HOST": proxy.url, "GCS_BUCKET": "test-bucket",
                    "GOOGLE_APPLICATION_CREDENTIALS": GCSFixtures.keyFile.path,
                ], home: dir.url)
            let plain = try Subprocess.comfyCLI(["gcs", "check"], environment: env)
            #expect(plain.status == 0, "\(plain.standardError)")
            #expect(plain.standardOutput.contains("permissions held: storage.objects.create"))
            let signed = try Subprocess.comfyCLI(["gcs", "check", "--signed-urls"], environment: env)
            #expect(signed.status == 1)
            #expect(signed.standardError.contains("storage.objects.get"))
            #expect(signed.standardError.contains("gs://test-bucket"))
        }
    }

    @Test("missing configuration is reported up front, all at once, with exit 2")
    func missingConfiguration() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = Self.environment(["GOOGLE_APPLICATION_CREDENTIALS": dir.appending("nope.json").path], home: dir.url)
        let run = try Subprocess.comfyCLI(["gcs", "upload", "/etc/hostname"], environment: env)
        #expect(run.status == 2)
        #expect(run.standardError.contains("GCS_BUCKET"))
        #expect(run.standardError.contains("nope.json"))
        let sign = try Subprocess.comfyCLI(["gcs", "sign", "--object", "o"], environment: env)
        #expect(sign.status == 2)
        #expect(sign.standardError.contains("GCS_BUCKET"))
    }

    @Test("secrets never reach output: rejected tokens, keys and assertions are not printed")
    func secretsNeverPrinted() async throws {
        try await withEmulator { emulator, dir in
            // A token endpoint that rejects the JWT (it expects another issuer).
            let rig = try makeAuthRig(
                emulator: emulator, dir: dir, mode: "token", extra: ["--email", "someone-else@x"])
            defer { rig.stop() }
            let key = try serviceAccountFile(tokenURI: rig.standIn.url + "/token", dir: dir)
            let file = dir.appending("s.bin")
            try makeRandomFile(file, size: 100)
            let privateKey = try GCSFixtures.privateKeyPEM()
            let keyBody = privateKey.split(separator: "\n").dropFirst().first.map(String.init) ?? "MII"
            var runs: [SubprocessResult] = []
            for args in [["gcs", "upload", file.path], ["gcs", "check"], ["gcs", "upload", file.path, "--json"]] {
                runs.append(
                    try Subprocess.comfyCLI(
                        args,
                        environment: Self.environment(
                            [
                                "GCS_BUCKET": "test-bucket", "GCS_API_ENDPOINT": rig.proxy.url,
                                "GOOGLE_APPLICATION_CREDENTIALS": key.path,
                            ], home: dir.url)))
            }
            runs.append(
                try Subprocess.comfyCLI(
                    ["gcs", "upload", file.path],
                    environment: Self.environment(
                        [
                            "GCS_BUCKET": "test-bucket", "GCS_API_ENDPOINT": rig.proxy.url,
                            "GCS_ACCESS_TOKEN": "ya29.SECRET-TOKEN-XYZ",
                        ], home: dir.url)))
            for run in runs {
                #expect(run.status != 0)
                let output = run.standardOutput + run.standardError
                #expect(!output.isEmpty)
                #expect(!output.contains("SECRET-TOKEN"))
                #expect(!output.contains(keyBody))
                #expect(!output.contains("PRIVATE KEY"))
                #expect(!output.contains("eyJ"), "an assertion leaked: \(output)")
                #expect(!output.contains("tok-"))
            }
            #expect(runs[0].standardError.contains("invalid_grant"))
        }
    }
}
