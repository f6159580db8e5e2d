extension ImportState {
    /// One pip requirement line (`name==version`, `name @ git+URL@COMMIT`, `git+URL@COMMIT#egg=name`).
    mutating func requirement(_ raw: String, sourcePath: String) -> PythonPackage? {
        let line = raw.trimmingSpaces
        if line.isEmpty || line.hasPrefix("#") { return nil }
        if line.hasPrefix("-") {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message:
                        "pip option or editable install \"\(LockValidator.shown(line))\" has no lock representation"))
            return nil
        }
        var name: String?
        var reference = line
        if let at = line.range(of: " @ ") {
            name = String(line[..<at.lowerBound]).trimmingSpaces
            reference = String(line[at.upperBound...]).trimmingSpaces
        }
        if reference.hasPrefix("git+") {
            var url = String(reference.dropFirst(4))
            if let hash = url.firstIndex(of: "#") {
                let fragment = url[url.index(after: hash)...]
                for part in fragment.split(separator: "&") where part.hasPrefix("egg=") {
                    name = name ?? String(part.dropFirst(4))
                }
                url = String(url[..<hash])
            }
            var commit = ""
            if let at = url.lastIndex(of: "@"), let slash = url.lastIndex(of: "/"), at > slash {
                commit = String(url[url.index(after: at)...]).lowercased()
                url = String(url[..<at])
            }
            guard let name, !name.isEmpty else {
                report.skipped.append(
                    .init(path: sourcePath, message: "VCS requirement without a package name; add #egg=NAME"))
                return nil
            }
            if !LockValidator.isCommit(commit) {
                commit = ""
            }
            return PythonPackage(
                name: PythonPackage.normalize(name), version: "",
                vcs: VCSPin(url: clean(url, sourcePath: sourcePath), commit: commit))
        }
        if name != nil {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message: "direct reference \"\(LockValidator.shown(reference))\" is not a VCS pin; not imported"))
            return nil
        }
        guard let equals = line.range(of: "==") else {
            report.skipped.append(
                .init(path: sourcePath, message: "requirement \"\(line)\" is not pinned with ==; not imported"))
            return nil
        }
        var packageName = String(line[..<equals.lowerBound]).trimmingSpaces
        if let bracket = packageName.firstIndex(of: "[") { packageName = String(packageName[..<bracket]) }
        var version = String(line[equals.upperBound...]).trimmingSpaces
        if let semicolon = version.firstIndex(of: ";") { version = String(version[..<semicolon]).trimmingSpaces }
        return PythonPackage(name: PythonPackage.normalize(packageName), version: version)
    }
}
