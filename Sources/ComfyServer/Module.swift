// ComfyServer: placeholder so the target exists; its implementation lands in its own issue (see docs/tech.md).
