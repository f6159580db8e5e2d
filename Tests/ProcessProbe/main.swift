// A helper for ComfyProcessTests: starts a long-lived child with ProcessExecution, prints "PID <pid>", then waits
// forever, so a test can SIGKILL this process and check that the child does not survive it.
// Usage: comfylock-process-probe [--no-parent-death] PROGRAM [ARGS...]
import ComfyProcess
import Foundation

var arguments = Array(CommandLine.arguments.dropFirst())
var options = ProcessExecution.Options()
if arguments.first == "--no-parent-death" {
    options.killWhenParentDies = false
    arguments.removeFirst()
}
guard let program = arguments.first else {
    FileHandle.standardError.write(Data("usage: comfylock-process-probe [--no-parent-death] PROGRAM [ARGS...]\n".utf8))
    exit(2)
}
let execution = try await ProcessExecution.start(
    ProcessCommand(program, Array(arguments.dropFirst())), options: options)
FileHandle.standardOutput.write(Data("PID \(execution.pid)\n".utf8))
let termination = await execution.wait()
print("EXIT \(termination)")
