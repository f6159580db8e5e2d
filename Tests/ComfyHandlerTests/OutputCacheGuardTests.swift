import ComfyLock
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// The signatures `OutputCacheGuard` compares: ComfyUI's input signatures (class + inputs, links by the linked node's
/// signature, node ids not counted). The end-to-end proof — the same job twice gives the same bytes and no missing
/// file — is in HandlerEndToEndTests / RunScriptTests on the ComfyUI stand-in, which caches like ComfyUI.
@Suite struct OutputCacheGuardTests {
    static let probe: [String: JSONValue] = [
        "1": ["class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 0]],
        "2": ["class_type": "ImageInvert", "inputs": ["image": ["1", 0]]],
        "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "probe"]],
    ]

    @Test func identicalGraphsUnderOtherNodeIDsHaveTheSameSignatures() {
        let renumbered: [String: JSONValue] = [
            "10": ["class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 0]],
            "20": ["class_type": "ImageInvert", "inputs": ["image": ["10", 0]]],
            "30": ["class_type": "SaveImage", "inputs": ["images": ["20", 0], "filename_prefix": "probe"]],
        ]
        let a = OutputCacheGuard.signatures(of: Self.probe)
        let b = OutputCacheGuard.signatures(of: renumbered)
        #expect(a["3"] == b["30"])
        #expect(Set(a.values) == Set(b.values))
    }

    @Test func anUpstreamChangeChangesEveryDownstreamSignature() {
        var changed = Self.probe
        changed["1"] = [
            "class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 7],
        ]
        let a = OutputCacheGuard.signatures(of: Self.probe)
        let b = OutputCacheGuard.signatures(of: changed)
        for id in ["1", "2", "3"] { #expect(a[id] != b[id], "node \(id)") }
    }

    @Test func flushOnlyWhenAnOutputNodeOfThePreviousJobWouldBeServedFromTheCache() {
        let guardian = OutputCacheGuard()
        #expect(!guardian.needsFlush(Self.probe))
        guardian.record(Self.probe, outputNodes: ["3"])
        #expect(guardian.needsFlush(Self.probe))
        // Another seed-like change upstream: the output node runs again, no flush (upstream stays cached).
        var other = Self.probe
        other["1"] = ["class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 9]]
        #expect(!guardian.needsFlush(other))
        // A second, unchanged output branch next to a changed one: that branch would be cached → flush.
        var twoBranches = other
        twoBranches["4"] = ["class_type": "ImageInvert", "inputs": ["image": ["1", 0]]]
        twoBranches["5"] = Self.probe["3"]
        twoBranches["6"] = Self.probe["1"]
        twoBranches["7"] = ["class_type": "ImageInvert", "inputs": ["image": ["6", 0]]]
        twoBranches["8"] = ["class_type": "SaveImage", "inputs": ["images": ["7", 0], "filename_prefix": "probe"]]
        #expect(guardian.needsFlush(twoBranches))
        guardian.reset()
        #expect(!guardian.needsFlush(Self.probe))
    }

    @Test func malformedLinksNeverMatch() {
        let dangling: [String: JSONValue] = [
            "3": ["class_type": "SaveImage", "inputs": ["images": ["99", 0], "filename_prefix": "probe"]]
        ]
        let cyclic: [String: JSONValue] = [
            "1": ["class_type": "ImageInvert", "inputs": ["image": ["2", 0]]],
            "2": ["class_type": "ImageInvert", "inputs": ["image": ["1", 0]]],
        ]
        #expect(OutputCacheGuard.signatures(of: dangling)["3"] != OutputCacheGuard.signatures(of: Self.probe)["3"])
        #expect(OutputCacheGuard.signatures(of: cyclic).count == 2)
    }
}

/// On the ComfyUI stand-in (ComfyUI's classic cache: an identical prompt is answered from the cache with the earlier
/// files), launched by the worker, which removes each job's outputs after delivery.
@Suite(.serialized) struct RepeatedJobTests {
    @Test func theSameJobTwiceGivesTheSameBytesAndNoMissingFile() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        var options = WorkerOptions(limits: JobLimits(), scratch: scratch.path)
        options.launch = (ComfyUIStandIn.python, ComfyUIStandIn.script.path, [])
        let worker = try await WorkerStartup.prepare(options, logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }
        var hashes: [String] = []
        for id in ["same-1", "same-2", "same-3"] {
            let outcome = await worker.runner.run(id: id, input: ["workflow": .object(OutputCacheGuardTests.probe)])
            guard case .completed(let output) = outcome else {
                Issue.record("job \(id) did not complete: \(outcome)")
                return
            }
            let image = try #require(output.outputs.first)
            hashes.append(image.sha256)
        }
        // Byte for byte the same PNG (the prompt embedded in it was not changed per job).
        #expect(Set(hashes).count == 1, "\(hashes)")
        // And the delivered files were removed from ComfyUI's output directory each time.
        let outputs = scratch.path + "/comfyui-output"
        let left =
            (try? FileManager.default.subpathsOfDirectory(atPath: outputs))?.filter { $0.hasSuffix(".png") } ?? []
        #expect(left.isEmpty, "\(left)")
        // The cache-evicting prompt's preview went to the worker's scratch, not into a ComfyUI checkout (a version's
        // status would call it dirty).
        let previews = (try? FileManager.default.subpathsOfDirectory(atPath: scratch.path + "/comfyui-temp")) ?? []
        #expect(previews.contains { $0.hasSuffix(".png") }, "no preview in the scratch temp directory: \(previews)")
    }
}
