import ComfyLock
import ComfyServer
import Foundation
import Synchronization
import TestSupport

/// Workflows the stand-in runs (API format), built as JSON values.
enum Workflows {
    static func parse(_ text: String) throws -> Workflow { try Workflow(bytes: Array(text.utf8)) }

    /// ENVIRONMENT.md's weight-free probe: EmptyImage → ImageInvert → SaveImage.
    static let probe = """
        {"1":{"class_type":"EmptyImage","inputs":{"width":64,"height":64,"batch_size":1,"color":16711680}},
         "2":{"class_type":"ImageInvert","inputs":{"image":["1",0]}},
         "3":{"class_type":"SaveImage","inputs":{"images":["2",0],"filename_prefix":"probe"}}}
        """

    /// One output of every kind, plus a temp preview.
    static let everyKind = """
        {"1":{"class_type":"EmptyImage","inputs":{"width":32,"height":32,"batch_size":2,"color":255}},
         "2":{"class_type":"SaveImage","inputs":{"images":["1",0],"filename_prefix":"kinds/img"}},
         "3":{"class_type":"VHS_VideoCombine","inputs":{"images":["1",0],"frame_rate":4,"loop_count":0,
              "filename_prefix":"kinds/anim","format":"image/gif","pingpong":false,"save_output":true}},
         "4":{"class_type":"StandInTone","inputs":{"seconds":0.1,"frequency":440}},
         "5":{"class_type":"SaveAudio","inputs":{"audio":["4",0],"filename_prefix":"kinds/tone"}},
         "6":{"class_type":"PrimitiveString","inputs":{"value":"hello from a node"}},
         "7":{"class_type":"PreviewAny","inputs":{"source":["6",0]}},
         "8":{"class_type":"StandInSave3D","inputs":{"text":["6",0],"filename_prefix":"kinds/mesh"}},
         "9":{"class_type":"PreviewImage","inputs":{"images":["1",0]}}}
        """

    static func noise(seed: Int, prefix: String = "noise") -> String {
        """
        {"1":{"class_type":"StandInNoise","inputs":{"seed":\(seed),"width":16,"height":16}},
         "2":{"class_type":"SaveImage","inputs":{"images":["1",0],"filename_prefix":"\(prefix)"}}}
        """
    }

    /// A node that sleeps `seconds` (interruptible) before saving.
    static func sleep(_ seconds: Double) -> String {
        """
        {"1":{"class_type":"EmptyImage","inputs":{"width":8,"height":8,"batch_size":1,"color":0}},
         "2":{"class_type":"StandInSleep","inputs":{"value":["1",0],"seconds":\(seconds)}},
         "3":{"class_type":"SaveImage","inputs":{"images":["2",0],"filename_prefix":"slept"}}}
        """
    }

    /// A graph whose middle node is `classType` (StandInFail, StandInCrash, StandInHang).
    static func through(_ classType: String, extra: String = "") -> String {
        """
        {"1":{"class_type":"EmptyImage","inputs":{"width":8,"height":8,"batch_size":1,"color":0}},
         "2":{"class_type":"\(classType)","inputs":{"value":["1",0]\(extra)}},
         "3":{"class_type":"SaveImage","inputs":{"images":["2",0],"filename_prefix":"through"}}}
        """
    }
}

/// Records job events.
final class EventLog: Sendable {
    private let events = Mutex<[WorkflowEvent]>([])
    var handler: WorkflowEventHandler { { event in self.events.withLock { $0.append(event) } } }
    var all: [WorkflowEvent] { events.withLock { $0 } }
}

/// Files under `directory`, recursively, relative paths.
func files(under directory: URL) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
    var found: [String] = []
    while let next = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(
            atPath: directory.appendingPathComponent(next).path, isDirectory: &isDirectory),
            !isDirectory.boolValue
        {
            found.append(next)
        }
    }
    return found.sorted()
}
