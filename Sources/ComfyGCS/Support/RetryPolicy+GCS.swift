public import ComfyTransport

/// Whether a GCS operation is safe to repeat (Google's retry guidance).
enum RequestIdempotency: Sendable {
    /// Reads, chunk uploads to a session, session creation, status queries: always safe.
    case idempotent
    /// Safe only with a precondition (e.g. a simple upload with `ifGenerationMatch`).
    case conditional(hasPrecondition: Bool)
    /// Never retried.
    case nonIdempotent
}

extension RetryPolicy {
    /// Google's guidance for Cloud Storage: at most 10 attempts, 1 s doubling to a 32 s cap with jitter, no new
    /// attempt after 5 minutes. A `Retry-After` raises a delay up to the cap.
    public static let googleCloudStorage = RetryPolicy(
        maxAttempts: 10, initialDelay: .seconds(1), maxDelay: .seconds(32), multiplier: 2, jitter: 0.5,
        maxRetryAfter: .seconds(32), totalTimeout: .seconds(300))

    /// GCS's retry rule: the delay before retrying after `error` on attempt `attempt` (1-based), or `nil` when the
    /// error is not a transient `GCSError`, the operation is not safe to repeat, or the attempt or time budget
    /// (`elapsed` since the first attempt) is used up. `retryAfter` (a server's `Retry-After`) raises the delay,
    /// capped at `maxDelay`. `random` (0...1) is the jitter draw.
    func gcsRetryDelay(
        after error: any Error, attempt: Int, elapsed: Duration, idempotency: RequestIdempotency,
        retryAfter: Duration? = nil, random: Double = Double.random(in: 0...1)
    ) -> Duration? {
        switch idempotency {
        case .idempotent: break
        case .conditional(let hasPrecondition): if !hasPrecondition { return nil }
        case .nonIdempotent: return nil
        }
        guard let gcs = error as? GCSError, gcs.isTransient else { return nil }
        guard attempt < maxAttempts else { return nil }
        var delay = self.delay(beforeRetry: attempt, retryAfter: nil, random: random)
        if let retryAfter, retryAfter > delay { delay = min(maxDelay, retryAfter) }
        guard allowsRetry(elapsed: elapsed, delay: delay) else { return nil }
        return delay
    }
}
