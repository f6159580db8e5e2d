import Foundation

/// When and how long to wait before retrying a GCS request, per Google's guidance: retry 408, 429, 5xx and
/// connection errors with truncated exponential backoff plus jitter, within a bounded total time; retry
/// non-idempotent operations only when a precondition makes them safe.
public struct GCSRetryPolicy: Sendable {
    /// First backoff delay.
    public var initialDelay: Double
    /// Cap of one delay.
    public var maximumDelay: Double
    /// Growth factor per attempt.
    public var multiplier: Double
    /// Total time budget (seconds) after which no new attempt starts.
    public var totalTimeout: Double
    /// Most attempts of one request (first try included).
    public var maximumAttempts: Int

    /// Creates a policy.
    public init(
        initialDelay: Double = 1, maximumDelay: Double = 32, multiplier: Double = 2, totalTimeout: Double = 300,
        maximumAttempts: Int = 10
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.totalTimeout = totalTimeout
        self.maximumAttempts = maximumAttempts
    }

    /// Google's defaults (1 s initial, ×2, 32 s cap, 5 min total).
    public static let standard = GCSRetryPolicy()
    /// Never retry.
    public static let none = GCSRetryPolicy(maximumAttempts: 1)

    /// Whether an operation is safe to repeat.
    public enum Idempotency: Sendable {
        /// Reads, chunk uploads to a session, session creation, status queries: always safe.
        case idempotent
        /// Safe only with a precondition (e.g. a simple upload with `ifGenerationMatch`).
        case conditional(hasPrecondition: Bool)
        /// Never retried.
        case nonIdempotent
    }

    /// True for the statuses Google documents as retryable: 408, 429 and 5xx.
    public static func isRetryableStatus(_ status: Int) -> Bool { status == 408 || status == 429 || (500...599).contains(status) }

    /// The delay before attempt `attempt + 1` (attempt counts from 1), with full-range jitter of up to 1 s added to
    /// the exponential step and the result truncated at `maximumDelay`. `retryAfter` (seconds, from a
    /// `Retry-After` header) raises the delay, also capped.
    public func delay(afterAttempt attempt: Int, retryAfter: Double? = nil, jitter: Double = Double.random(in: 0..<1))
        -> Double
    {
        let exponential = initialDelay * pow(multiplier, Double(max(0, attempt - 1)))
        var delay = min(maximumDelay, exponential + jitter * min(1, initialDelay))
        if let retryAfter, retryAfter > delay { delay = min(maximumDelay, retryAfter) }
        return delay
    }

    /// The delay to wait before retrying after `error` on attempt `attempt`, or `nil` when the error is not
    /// retryable, the operation is not safe to repeat, or the attempt/time budget is used up.
    public func retryDelay(
        after error: any Error, attempt: Int, elapsed: Double, idempotency: Idempotency, retryAfter: Double? = nil
    ) -> Double? {
        switch idempotency {
        case .idempotent: break
        case .conditional(let hasPrecondition): if !hasPrecondition { return nil }
        case .nonIdempotent: return nil
        }
        guard let gcs = error as? GCSError, gcs.isTransient else { return nil }
        guard attempt < maximumAttempts else { return nil }
        let delay = self.delay(afterAttempt: attempt, retryAfter: retryAfter)
        guard elapsed + delay <= totalTimeout else { return nil }
        return delay
    }

    /// Parses a `Retry-After` header given in seconds (HTTP dates are ignored).
    static func retryAfterSeconds(_ header: String?) -> Double? {
        guard let header, let seconds = Double(header.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return seconds
    }
}
