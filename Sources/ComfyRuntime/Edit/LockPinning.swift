public import ComfyLock
internal import ComfySupport
import Foundation

/// The one way a lock's Python closure is pinned: `comfy-cli pin --lock` and every lock edit (`lock update`,
/// `node add|remove|enable|disable`, `workflow scan --write`) go through here.
///
/// The requirements are ComfyUI's and every enabled git node's `requirements.txt` at the lock's commits
/// (`LockRequirements.collect`, through the git cache), plus extra inputs. `PythonPinner` resolves them.
///
/// Edits keep what they do not have to move: with `keep` (the lock's current pins) every pinned package is passed
/// to the resolver as a constraint `name==version`, except the packages named in `upgrade`. A constraint never adds
/// a package, so packages only a removed node needed drop out. When the constrained resolution fails but an
/// unconstrained one succeeds, the requirements clash with the pinned closure: the error
/// (`LockEditError.closureConflict`) names the requirement and its node against the pinned version (the resolver's
/// chains, with the pins labelled "pinned in the lock"), lists what would move, and says how to allow it.
public enum LockPinning {
    /// Python target defaults: the caller's, then the lock's, then the interpreter's / this machine's / PyPI.
    public struct Target: Sendable, Hashable {
        /// Python version ("3.11").
        public var pythonVersion: String
        /// Platform tag.
        public var platform: String
        /// Index URLs, primary first.
        public var indexURLs: [String]

        /// The target for `lock`: explicit values win, then the lock's `python` section, then `interpreterVersion`,
        /// `PythonPlatform.host()` and PyPI. `extraIndexURLs` are appended (once each).
        public init(
            lock: Lock?, pythonVersion: String?, platform: String?, indexURL: String?, extraIndexURLs: [String],
            interpreterVersion: String
        ) {
            self.pythonVersion = pythonVersion ?? lock?.python?.version ?? interpreterVersion
            self.platform = platform ?? lock?.python?.platform ?? PythonPlatform.host()
            var indexes: [String]
            if let indexURL {
                indexes = [indexURL]
            } else if let recorded = lock?.python?.indexUrls, !recorded.isEmpty {
                indexes = recorded
            } else {
                indexes = [PythonInstaller.defaultIndexURL]
            }
            for extra in extraIndexURLs where !indexes.contains(extra) { indexes.append(extra) }
            self.indexURLs = indexes
        }
    }

    /// What was pinned and from which inputs.
    public struct Result: Sendable {
        /// The pins.
        public var pins: PythonPins
        /// The labels of the requirement inputs.
        public var requirements: [String]
        /// Nodes whose requirements were not read, with why.
        public var skipped: [String]
    }

    /// Label of the constraints made from the lock's pins.
    public static let pinnedLabel = "pinned in the lock"

    /// Pins `lock`'s closure. `extra` are further inputs (`--with`, `--package NAME==VER`); `keep`: see the type;
    /// `upgrade`: normalized names whose pins are not kept.
    public static func pin(
        _ lock: Lock, target: Target, extra: [RequirementsInput] = [], keep: PythonPins? = nil,
        upgrade: Set<String> = [], comfyUIDirectory: String? = nil, gitCache: GitCache, toolchain: PythonToolchain,
        mirrors: URLRewriter = URLRewriter()
    ) async throws -> Result {
        let collected = try await LockRequirements.collect(
            from: lock, comfyUIDirectory: comfyUIDirectory, gitCache: gitCache)
        defer { collected.remove() }
        let inputs = collected.inputs + extra
        guard !inputs.isEmpty else {
            throw PythonError.invalidRequirements(
                "neither ComfyUI nor any enabled git node has a requirements.txt at its commit")
        }
        let request = PinRequest(
            requirements: inputs, pythonVersion: target.pythonVersion, platform: target.platform,
            indexURLs: target.indexURLs, mirrors: mirrors)
        let constraints = keep.map { constraintText($0, except: upgrade) } ?? ""
        guard !constraints.isEmpty else {
            let pins = try await PythonPinner.pin(request, toolchain: toolchain)
            return Result(pins: pins, requirements: inputs.map(\.label), skipped: collected.skipped)
        }
        var constrained = request
        constrained.constraints = [.text(constraints, label: pinnedLabel)]
        do {
            let pins = try await PythonPinner.pin(constrained, toolchain: toolchain)
            return Result(pins: pins, requirements: inputs.map(\.label), skipped: collected.skipped)
        } catch let error as PythonError where error.isResolutionConflict || error.isResolutionFailure {
            // Does it resolve without the pins? Then the clash is with the pinned closure; otherwise the
            // requirements clash among themselves, and the unconstrained error says how.
            let free = try await PythonPinner.pin(request, toolchain: toolchain)
            let moved = changes(from: keep!, to: free)
            var message = "the requirements do not fit the lock's pinned Python closure:\n" + error.message
            if !moved.isEmpty {
                message += "\nwithout the pins they resolve, moving: " + moved.joined(separator: ", ")
                let names = moved.compactMap { $0.split(separator: ":").first }.map(String.init)
                message +=
                    "\nallow that with " + names.map { "--package \($0)" }.joined(separator: " ")
                    + " (or lock update --all to re-resolve everything)"
            }
            throw LockEditError.closureConflict(message, wouldChange: moved)
        }
    }

    /// `name==version` lines for every pinned package with artifacts (VCS pins are left to the resolver), except
    /// `upgrade`.
    static func constraintText(_ pins: PythonPins, except upgrade: Set<String>) -> String {
        pins.packages.filter { $0.vcs == nil && !upgrade.contains($0.name) }
            .map { "\($0.name)==\($0.version)\n" }.joined()
    }

    /// `name: old → new` for pinned packages whose version differs in `new` (removed ones as `name: old → (none)`
    /// are not listed: a constraint cannot cause a removal).
    static func changes(from old: PythonPins, to new: PythonPins) -> [String] {
        let now = Dictionary(new.packages.map { ($0.name, $0.version) }, uniquingKeysWith: { a, _ in a })
        return old.packages.compactMap { package in
            guard let version = now[package.name], version != package.version else { return nil }
            return "\(package.name): \(package.version) → \(version)"
        }
    }
}
