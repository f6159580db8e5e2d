import ComfyTransport
import Foundation
import TestSupport
import Testing

@testable import ComfyGCS

@Suite("Configuration, object names, retry policy")
struct ConfigurationTests {
    @Test("environment variables are read; empty ones count as unset")
    func fromEnvironment() {
        let configuration = GCSConfiguration.fromEnvironment([
            "GCS_BUCKET": "my-bucket", "GCS_PREFIX": "out/", "GCS_PROJECT": "p-1", "GOOGLE_CLOUD_PROJECT": "",
            "STORAGE_EMULATOR_HOST": "127.0.0.1:9023", "GCS_ACCESS_TOKEN": "ya29.SECRET", "GCE_METADATA_HOST": "",
        ])
        #expect(configuration.bucket == "my-bucket")
        #expect(configuration.normalizedPrefix == "out")
        #expect(configuration.project == "p-1")
        #expect(configuration.metadataHost == nil)
        #expect(configuration.resolvedEndpoint == "http://127.0.0.1:9023")
        #expect(configuration.usesEmulator)
        #expect(!configuration.description.contains("SECRET"))
    }

    @Test("validation lists every problem at once and names the variable or flag")
    func validationListsEverything() {
        let configuration = GCSConfiguration(
            bucket: "Bad_Bucket!", prefix: "a/../b", credentialsPath: "/nonexistent/sa.json",
            emulatorHost: "ftp://x", accessToken: "tok en SECRET")
        do {
            try configuration.validate(for: .upload)
            Issue.record("validated")
        } catch let error as GCSError {
            #expect(error.kind == .configuration)
            for needle in [
                "GCS_BUCKET", "GCS_PREFIX", "/nonexistent/sa.json", "STORAGE_EMULATOR_HOST", "GCS_ACCESS_TOKEN",
            ] {
                #expect(error.message.contains(needle), "missing \(needle) in \(error.message)")
            }
            #expect(!error.message.contains("SECRET"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: GCSError.self) { try GCSConfiguration().validate(for: .upload) }
        do {
            try GCSConfiguration(bucket: "ok-bucket").validate(for: .sign)
            Issue.record("sign without key validated")
        } catch let error as GCSError {
            #expect(error.message.contains("GOOGLE_APPLICATION_CREDENTIALS"))
        } catch {}
        #expect(throws: Never.self) {
            try GCSConfiguration(bucket: "ok-bucket", emulatorHost: "http://127.0.0.1:1").validate(for: .upload)
        }
    }

    @Test(
        "bucket name rules",
        arguments: [
            ("abc", true), ("my-bucket.example", true), ("ab", false), ("UPPER", false), ("-lead", false),
            ("trail-", false), ("goog-x", false), ("a b", false),
        ])
    func bucketNames(name: String, valid: Bool) {
        #expect((GCSConfiguration.bucketNameProblem(name) == nil) == valid)
    }

    @Test("object names: <prefix>/<job>/<file>, sanitized")
    func objectNames() throws {
        #expect(
            try ObjectNaming.objectName(prefix: "outputs/", jobID: "job-1", fileName: "img_00001_.png")
                == "outputs/job-1/img_00001_.png")
        #expect(try ObjectNaming.objectName(prefix: "", jobID: "j", fileName: "/../../etc/passwd") == "j/etc/passwd")
        #expect(
            try ObjectNaming.objectName(prefix: "p", jobID: "a/b", fileName: "sub/./x\u{7}y.png") == "p/a_b/sub/x_y.png"
        )
        #expect(try ObjectNaming.objectName(prefix: "p", jobID: nil, fileName: "e\u{301}.png") == "p/\u{e9}.png")
        #expect(throws: GCSError.self) { try ObjectNaming.objectName(prefix: "p", jobID: "j", fileName: "../..") }
        #expect(throws: GCSError.self) { try ObjectNaming.objectName(prefix: "p/../q", jobID: "j", fileName: "f") }
        #expect(throws: GCSError.self) {
            try ObjectNaming.objectName(prefix: "p", jobID: "j", fileName: String(repeating: "x", count: 1100))
        }
        for bad in ["", "/abs", "a/../b", "a\nb", ".well-known/acme-challenge/x"] {
            #expect(throws: GCSError.self, "\(bad)") { try ObjectNaming.validate(bad) }
        }
        try ObjectNaming.validate("ok/name with spaces.png")
    }

    @Test("retry policy: retryable statuses, backoff growth and cap, idempotency and budget")
    func retryPolicy() {
        for status in [408, 429, 500, 502, 503, 504] { #expect(RetryPolicy.isRetryableStatus(status)) }
        for status in [200, 308, 400, 401, 403, 404, 410, 412] { #expect(!RetryPolicy.isRetryableStatus(status)) }
        let policy = RetryPolicy(
            maxAttempts: 6, initialDelay: .seconds(1), maxDelay: .seconds(8), multiplier: 2, jitter: 0.5,
            totalTimeout: .seconds(20))
        let transient = GCSError.http("x", status: 503, url: "u", detail: nil)
        let permanent = GCSError.http("x", status: 400, url: "u", detail: nil)
        func delay(_ attempt: Int, retryAfter: Duration? = nil, random: Double) -> Duration? {
            policy.gcsRetryDelay(
                after: transient, attempt: attempt, elapsed: .zero, idempotency: .idempotent, retryAfter: retryAfter,
                random: random)
        }
        // jitter 0.5: the exponential step times 0.5...1 (random 0...1), capped at maxDelay.
        #expect(delay(1, random: 1) == .seconds(1))
        #expect(delay(1, random: 0) == .milliseconds(500))
        #expect(delay(3, random: 1) == .seconds(4))
        #expect(delay(3, random: 0.5) == .seconds(3))
        #expect(delay(5, random: 1) == .seconds(8))
        // Retry-After raises the delay, capped at maxDelay.
        #expect(delay(1, retryAfter: .seconds(5), random: 1) == .seconds(5))
        #expect(delay(1, retryAfter: .seconds(500), random: 1) == .seconds(8))
        #expect(delay(3, retryAfter: .milliseconds(10), random: 1) == .seconds(4))
        func retries(
            _ error: any Error, attempt: Int = 1, elapsed: Duration = .zero, _ idempotency: RequestIdempotency
        )
            -> Bool
        {
            policy.gcsRetryDelay(after: error, attempt: attempt, elapsed: elapsed, idempotency: idempotency) != nil
        }
        #expect(retries(transient, .idempotent))
        #expect(!retries(permanent, .idempotent))
        #expect(!retries(transient, .conditional(hasPrecondition: false)))
        #expect(retries(transient, .conditional(hasPrecondition: true)))
        #expect(!retries(transient, .nonIdempotent))
        #expect(!retries(transient, attempt: 6, .idempotent))
        #expect(retries(transient, attempt: 5, .idempotent))
        #expect(!retries(transient, attempt: 2, elapsed: .milliseconds(19_500), .idempotent))
        #expect(!retries(CancellationError(), .idempotent))
        // Google's defaults.
        #expect(RetryPolicy.googleCloudStorage.maxAttempts == 10)
        #expect(RetryPolicy.googleCloudStorage.totalTimeout == .seconds(300))
    }
}
