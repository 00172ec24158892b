//! Idempotency keys of write requests (the `Idempotency-Key` header): the first request with a
//! key runs and its answer is kept; a retry with the same key and the same request gets that
//! answer back without running again.

/// What a request with an idempotency key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// Run it (the key is now held by this request).
    Fresh,
    /// Answer this, stored from the first request.
    Replay {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// The stored answer of a finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}
