public import Foundation

/// What `checkAccess` found.
public struct AccessReport: Codable, Sendable, Hashable {
    /// The bucket checked.
    public var bucket: String
    /// The JSON API endpoint used.
    public var endpoint: String
    /// How the client authenticated (no secret).
    public var auth: String
    /// The project, when configured.
    public var project: String?
    /// Permissions asked for.
    public var permissionsRequested: [String]
    /// Permissions the credentials hold on the bucket (`nil` when the server has no IAM, like the emulator).
    public var permissionsGranted: [String]?
    /// Notes (e.g. "the emulator has no IAM: permissions not checked").
    public var notes: [String]
}

extension GCSClient {
    /// The permissions an uploader needs; `storage.objects.get` is added when signed URLs will be handed out.
    public static func requiredPermissions(signedURLs: Bool) -> [String] {
        signedURLs ? ["storage.objects.create", "storage.objects.get"] : ["storage.objects.create"]
    }

    /// Calls `buckets.testIamPermissions` and returns the permissions held (a subset of `permissions`).
    /// Throws `.http` 404 when the bucket does not exist (or the server has no such API).
    public func testPermissions(_ permissions: [String]) async throws -> [String] {
        let query = permissions.map { "permissions=\($0.gcsQueryEncoded)" }.joined(separator: "&")
        let url = "\(endpoint)/storage/v1/b/\(bucket.gcsQueryEncoded)/iam/testPermissions?\(query)"
        let response = try await execute(
            GCSTransport.request(.get, url, timeout: .seconds(60)), idempotency: .idempotent)
        guard response.status == 200 else {
            if response.status == 404 {
                throw GCSError(
                    .http, "bucket gs://\(bucket) was not found at \(endpoint) (testIamPermissions answered 404)",
                    status: 404)
            }
            throw httpError("testIamPermissions on gs://\(bucket)", response, url: url)
        }
        guard let json = response.jsonObject else {
            throw GCSError.http(
                "testIamPermissions on gs://\(bucket)", status: 200, url: url, detail: "the answer is not JSON")
        }
        let granted = (json["permissions"] as? [String]) ?? []
        return permissions.filter { granted.contains($0) }
    }

    /// Checks that authentication works, the bucket is reachable and the upload permissions are held (plus
    /// `storage.objects.get` when `signedURLs`). A missing permission throws `.permission` naming the bucket and
    /// the permission. Against the emulator, which has no IAM, the bucket's existence is checked instead.
    public func checkAccess(signedURLs: Bool = false) async throws -> AccessReport {
        let wanted = Self.requiredPermissions(signedURLs: signedURLs)
        var report = AccessReport(
            bucket: bucket, endpoint: endpoint, auth: authMethod.description, project: configuration.project,
            permissionsRequested: wanted, permissionsGranted: nil, notes: [])
        if signedURLs {
            let key = try signingKey()
            report.notes.append("signed URLs will be signed by \(key.clientEmail)")
        }
        _ = try await accessToken()  // auth works (or throws a `.token` error)
        do {
            let granted = try await testPermissions(wanted)
            report.permissionsGranted = granted
            let missing = wanted.filter { !granted.contains($0) }
            if !missing.isEmpty { throw GCSError.permissionMissing(bucket: bucket, permissions: missing) }
        } catch let error as GCSError where error.status == 404 && configuration.usesEmulator {
            try await requireBucketExists()
            report.notes.append("the emulator has no IAM: bucket reachable, permissions not checked")
        }
        return report
    }

    /// `GET` the bucket resource; throws when it does not exist.
    func requireBucketExists() async throws {
        let url = "\(endpoint)/storage/v1/b/\(bucket.gcsQueryEncoded)"
        let response = try await execute(
            GCSTransport.request(.get, url, timeout: .seconds(60)), idempotency: .idempotent)
        if response.status == 404 {
            throw GCSError(.http, "bucket gs://\(bucket) does not exist at \(endpoint)", status: 404)
        }
        guard response.status == 200 else { throw httpError("reading bucket gs://\(bucket)", response, url: url) }
    }

    /// The service-account key used for signed URLs (from the configured credentials file).
    public func signingKey() throws -> ServiceAccountKey {
        guard let path = configuration.credentialsPath else {
            throw GCSError.configuration([
                "signed URLs need a service-account key file: set GOOGLE_APPLICATION_CREDENTIALS or pass --key"
            ])
        }
        guard case .serviceAccount(let key) = try CredentialsFile.load(path: path) else {
            throw GCSError.credentials(
                "credentials file \(path) holds authorized_user credentials; signed URLs need a service-account key")
        }
        return key
    }

    /// A V4 signed GET URL for `object`. Against the emulator the URL points at the emulator (path style).
    public func signedURL(
        for object: String, expiration: Int, method: String = "GET", now: Date = Date()
    ) throws
        -> SignedURL
    {
        let key = try signingKey()
        var request = SignedURLRequest(
            bucket: bucket, object: object, method: method, expiration: expiration, timestamp: now)
        if configuration.usesEmulator || configuration.apiEndpoint != nil, let url = URL(string: endpoint) {
            request.scheme = url.scheme ?? "https"
            request.host = (url.host ?? "") + (url.port.map { ":\($0)" } ?? "")
        }
        return try V4Signer.sign(request, key: key)
    }
}
