/// ComfyLock's users see ComfySupport's shared utilities — `Escaping` (the one way hostile strings are printed),
/// `Redaction`, `AtomicFile` — without a second import: the lock layer's messages and every front end print through
/// the same functions as the transport and the server modules below it.
@_exported public import ComfySupport
