
import Foundation

// The RunPod / Docker worker. Its job loop (apply the lock at start, run a workflow per job, return or upload
// outputs) is not built yet; until it is, the handler says so and exits non-zero rather than pretending to serve.
FileHandle.standardError.write(Data("comfy-handler is not built yet in this release; see docs/tech.md.\n".utf8))
exit(3)
