public import Foundation

/// The RunPod platform's settings for a worker, as the platform passes them in the environment
/// (see docs/tech.md, worker section, and runpod-python 1.12's behaviour).
public struct RunPodConfiguration: Sendable, Hashable {
    /// `RUNPOD_WEBHOOK_GET_JOB` (placeholders not yet expanded).
    public var jobTakeURL: String
    /// `RUNPOD_WEBHOOK_POST_OUTPUT`.
    public var resultURL: String
    /// `RUNPOD_WEBHOOK_PING`, when heartbeats are wanted.
    public var pingURL: String?
    /// `RUNPOD_AI_API_KEY`, sent raw as `Authorization` (never logged).
    public var apiKey: String?
    /// `RUNPOD_POD_ID`, or a random id when absent (as the SDK does).
    public var workerID: String
    /// `RUNPOD_PING_INTERVAL` (ms, default 10 000).
    public var pingInterval: Duration
    /// `RUNPOD_ENDPOINT_ID` (JSON-lines logs when set).
    public var endpointID: String?
    /// `RUNPOD_POD_HOSTNAME`.
    public var hostname: String?
    /// How long one job-take long poll may take before the worker gives up on it (the SDK waits 90 s).
    public var takeTimeout: Duration
    /// Whether to poll the job-stop channel (`/job-take/` → `/job-stop/`).
    public var stopChannel: Bool
    /// The runpod-python version this worker claims to follow (sent with heartbeats).
    public static let protocolVersion = "1.12.0"

    /// A configuration.
    public init(
        jobTakeURL: String, resultURL: String, pingURL: String? = nil, apiKey: String? = nil,
        workerID: String = "worker-" + UUID().uuidString.lowercased().prefix(12), pingInterval: Duration = .seconds(10),
        endpointID: String? = nil, hostname: String? = nil, takeTimeout: Duration = .seconds(90),
        stopChannel: Bool = true
    ) {
        self.jobTakeURL = jobTakeURL
        self.resultURL = resultURL
        self.pingURL = pingURL
        self.apiKey = apiKey
        self.workerID = workerID
        self.pingInterval = pingInterval
        self.endpointID = endpointID
        self.hostname = hostname
        self.takeTimeout = takeTimeout
        self.stopChannel = stopChannel
    }

    /// Reads the platform's variables; `nil` when `RUNPOD_WEBHOOK_GET_JOB` is not set (local mode). Throws when
    /// the job-take URL is set but the result URL is missing or a value is malformed.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> RunPodConfiguration?
    {
        guard let take = environment["RUNPOD_WEBHOOK_GET_JOB"], !take.isEmpty else { return nil }
        guard let post = environment["RUNPOD_WEBHOOK_POST_OUTPUT"], !post.isEmpty else {
            throw RunPodConfigurationError("RUNPOD_WEBHOOK_GET_JOB is set but RUNPOD_WEBHOOK_POST_OUTPUT is not")
        }
        var configuration = RunPodConfiguration(jobTakeURL: take, resultURL: post)
        configuration.pingURL = environment["RUNPOD_WEBHOOK_PING"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.apiKey = environment["RUNPOD_AI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if let id = environment["RUNPOD_POD_ID"], !id.isEmpty { configuration.workerID = id }
        if let text = environment["RUNPOD_PING_INTERVAL"], !text.isEmpty {
            guard let ms = Int(text), ms > 0, ms <= 3_600_000 else {
                throw RunPodConfigurationError("RUNPOD_PING_INTERVAL must be a positive number of milliseconds")
            }
            configuration.pingInterval = .milliseconds(ms)
        }
        configuration.endpointID = environment["RUNPOD_ENDPOINT_ID"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.hostname = environment["RUNPOD_POD_HOSTNAME"].flatMap { $0.isEmpty ? nil : $0 }
        for (name, value) in [("RUNPOD_WEBHOOK_GET_JOB", take), ("RUNPOD_WEBHOOK_POST_OUTPUT", post)] {
            guard let url = URL(string: Self.expand(value, workerID: configuration.workerID, jobID: "x")),
                url.scheme == "http" || url.scheme == "https"
            else { throw RunPodConfigurationError("\(name) is not an http(s) URL") }
        }
        return configuration
    }

    /// Replaces `$RUNPOD_POD_ID` (worker id) and `$ID` (the job id for result URLs, the worker id for the job-take
    /// URL) wherever they appear; already-expanded URLs pass through unchanged.
    static func expand(_ template: String, workerID: String, jobID: String?) -> String {
        let encodedWorker = percentEncode(workerID)
        var out = template.replacingOccurrences(of: "$RUNPOD_POD_ID", with: encodedWorker)
        out = out.replacingOccurrences(of: "$ID", with: jobID.map(percentEncode) ?? encodedWorker)
        return out
    }

    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func appendQuery(_ url: String, _ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return url }
        let query = items.map { "\($0.0)=\(percentEncode($0.1))" }.joined(separator: "&")
        return url + (url.contains("?") ? "&" : "?") + query
    }

    /// The job-take URL for one poll.
    func takeURL(jobInProgress: Bool) -> String {
        Self.appendQuery(
            Self.expand(jobTakeURL, workerID: workerID, jobID: nil), [("job_in_progress", jobInProgress ? "1" : "0")])
    }

    /// The job-stop channel URL (`/job-take/` → `/job-stop/`), or `nil` when the take URL has no such segment.
    func stopURL() -> String? {
        let take = Self.expand(jobTakeURL, workerID: workerID, jobID: nil)
        guard take.contains("/job-take/") else { return nil }
        return take.replacingOccurrences(of: "/job-take/", with: "/job-stop/")
    }

    /// The result URL for `jobID`.
    func resultURL(jobID: String, isStream: Bool = false) -> String {
        Self.appendQuery(
            Self.expand(resultURL, workerID: workerID, jobID: jobID), [("isStream", isStream ? "true" : "false")])
    }

    /// The heartbeat URL with the in-progress job ids.
    func pingURL(jobIDs: [String]) -> String? {
        guard let pingURL else { return nil }
        var items: [(String, String)] = []
        if !jobIDs.isEmpty { items.append(("job_id", jobIDs.joined(separator: ","))) }
        items.append(("runpod_version", Self.protocolVersion))
        return Self.appendQuery(Self.expand(pingURL, workerID: workerID, jobID: nil), items)
    }
}

/// A malformed RunPod environment.
public struct RunPodConfigurationError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let message: String
    init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
