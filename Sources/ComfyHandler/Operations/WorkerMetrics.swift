import Foundation
internal import Prometheus
import Synchronization

/// The worker's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4), over swift-prometheus's
/// `PrometheusCollectorRegistry`. One instance per worker; every mode's `JobRunner` records into it.
///
/// Families (all prefixed `comfylock_handler_`):
/// `jobs_total{outcome, error_kind}`, `job_duration_seconds` and `job_phase_duration_seconds{phase}` (queue, fetch,
/// run, upload) histograms, `queue_depth` and `jobs_in_progress` gauges, `comfyui_restarts_total`,
/// `model_cache_hits_total`, `model_cache_misses_total`, `model_fetched_bytes_total`, `job_peak_ram_bytes` and
/// `job_peak_vram_bytes` histograms (from ComfyUI's `/system_stats` during each job) with the last job's values as
/// `last_job_peak_{ram,vram}_bytes` gauges, and `webhook_deliveries_total{result}`.
public final class WorkerMetrics: Sendable {
    /// The phases of a job's duration histogram.
    public enum Phase: String, Sendable, CaseIterable {
        /// From the job's start to ComfyUI starting the prompt (inputs, validation, queueing).
        case queue
        /// Lazy model fetch before queueing (`--models lazy`).
        case fetch
        /// ComfyUI executing the prompt.
        case run
        /// Output delivery (base64 encoding or GCS upload).
        case upload
    }

    let registry = PrometheusCollectorRegistry()
    let prefix = "comfylock_handler_"
    let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
    ]
    let byteBuckets: [Double] = [
        Double(64 << 20), Double(256 << 20), Double(1 << 30), Double(2 << 30), Double(4 << 30), Double(8 << 30),
        Double(16 << 30), Double(24 << 30), Double(32 << 30), Double(48 << 30), Double(64 << 30), Double(128 << 30),
    ]
    /// Scrape-time sources of ComfyUI's restart count (a running total; the counter moves by the difference).
    let restartSources = Mutex<[@Sendable () -> Int]>([])
    let lastRestarts = Mutex<Int>(0)

    /// An empty registry with every family declared (so a scrape before the first job already lists them).
    public init() {
        for phase in Phase.allCases { _ = phaseHistogram(phase) }
        _ = registry.makeDurationHistogram(
            descriptor: descriptor("job_duration_seconds", "Time from taking a job to its answer."),
            buckets: durationBuckets)
        _ = jobs(outcome: "completed", errorKind: "none")
        _ = gauge("queue_depth", "Jobs waiting or running.")
        _ = gauge("jobs_in_progress", "Jobs running now.")
        _ = counter("comfyui_restarts_total", "ComfyUI restarts by the supervisor (crashes, deadline escalation).")
        _ = counter("model_cache_hits_total", "Locked models a job or the start-up needed that were already present.")
        _ = counter("model_cache_misses_total", "Locked models that had to be downloaded.")
        _ = counter("model_fetched_bytes_total", "Bytes of model files downloaded into the store.")
        _ = memoryHistogram("job_peak_ram_bytes", "Peak RAM in use on the ComfyUI host during a job.")
        _ = memoryHistogram("job_peak_vram_bytes", "Peak VRAM in use during a job.")
        _ = gauge("last_job_peak_ram_bytes", "Peak RAM in use during the last job that reported it.")
        _ = gauge("last_job_peak_vram_bytes", "Peak VRAM in use during the last job that reported it.")
        for result in ["delivered", "failed", "refused"] { _ = webhooks(result) }
    }

    func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: prefix + name, unitName: "", helpText: help)
    }

    func counter(_ name: String, _ help: String) -> Counter {
        registry.makeCounter(descriptor: descriptor(name, help))
    }

    func gauge(_ name: String, _ help: String) -> Gauge {
        registry.makeGauge(descriptor: descriptor(name, help))
    }

    func jobs(outcome: String, errorKind: String) -> Counter {
        registry.makeCounter(
            descriptor: descriptor("jobs_total", "Jobs answered (or stopped), by outcome and error kind."),
            labels: [("outcome", outcome), ("error_kind", errorKind)])
    }

    func webhooks(_ result: String) -> Counter {
        registry.makeCounter(
            descriptor: descriptor(
                "webhook_deliveries_total", "Completion webhooks: delivered, failed after every attempt, or refused."),
            labels: [("result", result)])
    }

    func phaseHistogram(_ phase: Phase) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: descriptor("job_phase_duration_seconds", "Time a job spent in each phase."),
            labels: [("phase", phase.rawValue)], buckets: durationBuckets)
    }

    func memoryHistogram(_ name: String, _ help: String) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: descriptor(name, help), buckets: byteBuckets)
    }

    // MARK: - Recording

    /// Records a finished job: its outcome, total duration, and — for a completed job — its phases and peak memory.
    public func record(_ outcome: JobOutcome, duration: Duration, peakRAM: Int64? = nil, peakVRAM: Int64? = nil) {
        switch outcome {
        case .completed(let output):
            jobs(outcome: "completed", errorKind: "none").increment()
            let timings = output.timings
            phaseHistogram(.queue).record(.milliseconds(timings.queueMS))
            if let fetch = timings.fetchMS { phaseHistogram(.fetch).record(.milliseconds(fetch)) }
            phaseHistogram(.run).record(.milliseconds(timings.runMS))
            phaseHistogram(.upload).record(.milliseconds(timings.uploadMS))
        case .failed(let failure, _):
            jobs(outcome: "failed", errorKind: failure.kind.rawValue).increment()
        case .stopped:
            jobs(outcome: "stopped", errorKind: "none").increment()
        }
        registry.makeDurationHistogram(
            descriptor: descriptor("job_duration_seconds", "Time from taking a job to its answer."),
            buckets: durationBuckets
        ).record(duration)
        if let peakRAM, peakRAM > 0 {
            memoryHistogram("job_peak_ram_bytes", "Peak RAM in use on the ComfyUI host during a job.")
                .record(Double(peakRAM))
            gauge("last_job_peak_ram_bytes", "Peak RAM in use during the last job that reported it.")
                .set(Double(peakRAM))
        }
        if let peakVRAM, peakVRAM > 0 {
            memoryHistogram("job_peak_vram_bytes", "Peak VRAM in use during a job.").record(Double(peakVRAM))
            gauge("last_job_peak_vram_bytes", "Peak VRAM in use during the last job that reported it.")
                .set(Double(peakVRAM))
        }
    }

    /// A job started (`+1`) or ended (`-1`) running.
    public func jobRunning(_ delta: Int) {
        gauge("jobs_in_progress", "Jobs running now.").increment(by: Double(delta))
    }

    /// Sets the number of jobs waiting or running.
    public func setQueueDepth(_ depth: Int) {
        gauge("queue_depth", "Jobs waiting or running.").set(Double(depth))
    }

    /// A locked model was needed: present already (`hit`) or downloaded (`bytes` fetched).
    public func modelNeeded(hit: Bool, bytes: Int64 = 0) {
        if hit {
            counter("model_cache_hits_total", "Locked models a job or the start-up needed that were already present.")
                .increment()
        } else {
            counter("model_cache_misses_total", "Locked models that had to be downloaded.").increment()
            if bytes > 0 {
                counter("model_fetched_bytes_total", "Bytes of model files downloaded into the store.")
                    .increment(by: bytes)
            }
        }
    }

    /// A webhook was delivered, failed every attempt, or was refused (address policy).
    public func webhook(_ result: String) { webhooks(result).increment() }

    /// Adds a source of ComfyUI's restart count (a running total), read at every scrape.
    public func addRestartSource(_ source: @escaping @Sendable () -> Int) {
        restartSources.withLock { $0.append(source) }
    }

    /// The exposition in the Prometheus text format (`text/plain; version=0.0.4`).
    public func exposition() -> String {
        let total = restartSources.withLock { $0 }.reduce(0) { $0 + $1() }
        let delta = lastRestarts.withLock { last -> Int in
            let delta = max(0, total - last)
            last = max(last, total)
            return delta
        }
        if delta > 0 {
            counter("comfyui_restarts_total", "ComfyUI restarts by the supervisor (crashes, deadline escalation).")
                .increment(by: Int64(delta))
        }
        return registry.emitToString()
    }

    /// The media type of `exposition()`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
