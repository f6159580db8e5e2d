public import Foundation

/// When and how long to wait before retrying: exponential backoff with jitter, honouring `Retry-After`.
///
/// Retried: connection failures, timeouts, 408, 429 and 5xx (see `HTTPError.isRetryable`, or conform your own error
/// to `RetryableError`). Never other 4xx. `HTTPClient` applies it to buffered requests; streaming callers (and
/// protocols that recover on their own, like GCS resumable uploads) call `run` or `delay(beforeRetry:retryAfter:)`.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts including the first (1 = no retry).
    public var maxAttempts: Int
    /// The delay before the first retry (before jitter).
    public var initialDelay: Duration
    /// The cap on any computed delay.
    public var maxDelay: Duration
    /// The growth factor between retries.
    public var multiplier: Double
    /// Fraction of each delay that is randomized (0 = none, 1 = "full jitter"; the default 0.5 makes the upper half
    /// of each delay random).
    public var jitter: Double
    /// The longest `Retry-After` honoured; a server asking for more makes the error final.
    public var maxRetryAfter: Duration
    /// A budget for the whole operation: no retry starts when the time since the first attempt plus the next delay
    /// would exceed it. `nil` for none (only `maxAttempts` bounds the retries).
    public var totalTimeout: Duration?

    /// A policy.
    public init(
        maxAttempts: Int = 5, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30),
        multiplier: Double = 2, jitter: Double = 0.5, maxRetryAfter: Duration = .seconds(120),
        totalTimeout: Duration? = nil
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.multiplier = multiplier
        self.jitter = min(1, max(0, jitter))
        self.maxRetryAfter = maxRetryAfter
        self.totalTimeout = totalTimeout
    }

    /// The default: 5 attempts, 0.5 s doubling to at most 30 s, half jitter, `Retry-After` honoured up to 120 s,
    /// no total budget.
    public static let `default` = RetryPolicy()
    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// 408, 429 and every 5xx.
    public static func isRetryableStatus(_ status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    /// The delay before retry number `retry` (1 = the first retry): `initialDelay * multiplier^(retry-1)`, capped at
    /// `maxDelay`, randomized by `jitter`; or the server's `retryAfter` when given (capped at `maxRetryAfter`).
    public func delay(beforeRetry retry: Int, retryAfter: Duration? = nil) -> Duration {
        delay(beforeRetry: retry, retryAfter: retryAfter, random: Double.random(in: 0...1))
    }

    /// `delay(beforeRetry:retryAfter:)` with the random draw given (`random` in 0...1), for deterministic tests and
    /// for protocols with their own rules around the backoff (GCS).
    package func delay(beforeRetry retry: Int, retryAfter: Duration?, random: Double) -> Duration {
        if let retryAfter { return min(retryAfter, maxRetryAfter) }
        let base = initialDelay.seconds * pow(multiplier, Double(max(0, retry - 1)))
        let capped = min(base, maxDelay.seconds)
        let randomized = capped * (1 - jitter) + capped * jitter * min(1, max(0, random))
        return .nanoseconds(Int64(randomized * 1e9))
    }

    /// True when a retry after `elapsed` (since the first attempt) and a wait of `delay` stays within `totalTimeout`.
    public func allowsRetry(elapsed: Duration, delay: Duration) -> Bool {
        guard let totalTimeout else { return true }
        return elapsed + delay <= totalTimeout
    }

    /// Runs `operation` (given the 1-based attempt number) until it succeeds, throws an error that is not retryable,
    /// or `maxAttempts` is reached; sleeps between attempts (cancellation ends the sleep and throws).
    /// `onRetry` is told about each retry before the sleep (for logs; the error message carries no secrets).
    public func run<T>(
        onRetry: (_ attempt: Int, _ error: any Error, _ delay: Duration) -> Void = { _, _, _ in },
        _ operation: (_ attempt: Int) async throws -> T
    ) async throws -> T {
        var attempt = 1
        let started = ContinuousClock.now
        while true {
            do {
                return try await operation(attempt)
            } catch {
                guard attempt < maxAttempts, let retryable = error as? any RetryableError, retryable.isRetryable else {
                    throw error
                }
                if let asked = retryable.retryAfter, asked > maxRetryAfter { throw error }
                let wait = delay(beforeRetry: attempt, retryAfter: retryable.retryAfter)
                guard allowsRetry(elapsed: ContinuousClock.now - started, delay: wait) else { throw error }
                onRetry(attempt, error, wait)
                try await Task.sleep(for: wait)
                attempt += 1
            }
        }
    }

    /// Parses a `Retry-After` value: delta-seconds or an IMF-fixdate HTTP date. `nil` when absent or invalid.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        let delta = date.timeIntervalSince(now)
        return .milliseconds(Int64(max(0, delta) * 1000))
    }
}

/// An error that tells `RetryPolicy` whether to retry it.
public protocol RetryableError: Error {
    /// Whether another attempt may succeed.
    var isRetryable: Bool { get }
    /// How long the server asked to wait, if it did.
    var retryAfter: Duration? { get }
}

extension HTTPError: RetryableError {}

extension Duration {
    /// The duration in (fractional) seconds.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
