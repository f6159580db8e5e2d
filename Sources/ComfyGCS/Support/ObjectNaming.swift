import Foundation

/// Object names for uploaded outputs: `<prefix>/<job-id>/<file name>`, made safe.
public enum ObjectNaming {
    /// GCS's limit on an object name, in UTF-8 bytes.
    public static let maximumLength = 1024

    /// Builds `<prefix>/<job-id>/<file name>`. The job id becomes one safe path segment; the file name keeps its
    /// subdirectories but loses empty, `.` and `..` segments, a leading `/`, and control characters (replaced with
    /// `_`). Unicode is normalized to NFC. Throws `.objectName` when nothing usable is left or the name is too long.
    public static func objectName(prefix: String, jobID: String?, fileName: String) throws -> String {
        var segments: [String] = []
        let trimmedPrefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !trimmedPrefix.isEmpty {
            if let problem = prefixProblem(trimmedPrefix) { throw GCSError.objectName(prefix, problem) }
            segments.append(trimmedPrefix)
        }
        if let jobID {
            let job = sanitizeSegment(jobID.replacingOccurrences(of: "/", with: "_"))
            guard let job else { throw GCSError.objectName(jobID, "the job id has no usable characters") }
            segments.append(job)
        }
        let fileSegments = sanitizePath(fileName)
        guard !fileSegments.isEmpty else {
            throw GCSError.objectName(
                fileName, "the file name has no usable characters after removing '..', '.' and '/'")
        }
        segments += fileSegments
        let name = segments.joined(separator: "/")
        try validate(name)
        return name
    }

    /// The safe segments of a relative path (may be empty).
    public static func sanitizePath(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).compactMap { sanitizeSegment(String($0)) }
    }

    /// One path segment with control characters replaced; `nil` for empty, `.` and `..`.
    static func sanitizeSegment(_ raw: String) -> String? {
        var out = ""
        for scalar in raw.precomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value) {
                out.append("_")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        let trimmed = out.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "." || trimmed == ".." { return nil }
        return out
    }

    /// Why `prefix` is unusable, or `nil`.
    static func prefixProblem(_ prefix: String) -> String? {
        let trimmed = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if trimmed.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return "it contains control characters"
        }
        if trimmed.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." })
        {
            return "it contains a '.' or '..' segment"
        }
        if trimmed.contains("//") { return "it contains an empty segment ('//')" }
        if trimmed.utf8.count > 512 { return "it is longer than 512 bytes" }
        return nil
    }

    /// Checks an explicit object name (as given with `--object`): throws `.objectName` when GCS would reject it or it
    /// is unsafe to reuse as a path — longer than 1024 bytes, a `..` segment, a leading `/`, control characters, or
    /// under `.well-known/acme-challenge/`.
    public static func validate(_ name: String) throws {
        if name.isEmpty { throw GCSError.objectName(name, "it is empty") }
        if name.utf8.count > maximumLength {
            throw GCSError.objectName(
                String(name.prefix(60)) + "…", "it is \(name.utf8.count) bytes long; GCS allows \(maximumLength)")
        }
        if name.hasPrefix("/") { throw GCSError.objectName(name, "it starts with '/'") }
        if name.unicodeScalars.contains(where: {
            $0.value < 0x20 || $0.value == 0x7f || (0x80...0x9f).contains($0.value)
        }) {
            throw GCSError.objectName(name, "it contains control characters")
        }
        if name.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." }) {
            throw GCSError.objectName(name, "it contains a '.' or '..' segment")
        }
        if name.hasPrefix(".well-known/acme-challenge/") {
            throw GCSError.objectName(name, "GCS reserves the .well-known/acme-challenge/ prefix")
        }
    }
}
