//! Shared drivers for the weft fuzz targets.
//!
//! A target is a thin `fuzz_target!` around one of these functions, so the server and client
//! connection targets check the same invariants and differ only in the role.

use bytes::BytesMut;
use weft_proto::frame::{FrameHeader, OpCode, apply_mask};
use weft_proto::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Event, Message, ProtocolError, Role,
    State, Transmit,
};

/// Message-size limits the first input byte chooses from: tiny ones so the limit checks are
/// reached by short inputs, 125/126 at the 7-bit length boundary, and the default.
const SIZE_LIMITS: [usize; 8] = [0, 1, 2, 7, 125, 126, 4096, 16 << 20];

/// Largest chunk the input is cut into; small ones make every decoder state see a cut.
const CHUNK_LIMITS: [usize; 8] = [1, 2, 3, 5, 16, 128, 1024, usize::MAX];

/// Feeds `data` to a fresh [`Connection`] in `role` and checks the invariants its docs promise.
///
/// Input layout: byte 0 picks the options (bit 0 fragment mode, bit 1 auto-PONG, bits 2-4 the
/// size limit, bits 5-7 the largest chunk); byte 1 seeds the chunk sizes; the rest is what the
/// peer sent.
///
/// # Panics
///
/// When an invariant fails: that is the finding.
pub fn run_connection(role: Role, data: &[u8]) {
    let [options, seed, wire @ ..] = data else {
        return;
    };
    let fragment_mode = options & 1 != 0;
    let auto_pong = options & 2 != 0;
    let limit = SIZE_LIMITS[usize::from((options >> 2) & 7)];
    let max_chunk = CHUNK_LIMITS[usize::from(options >> 5)];
    let mut config = Config::default()
        .fragment_mode(fragment_mode)
        .auto_pong(auto_pong)
        .max_message_size(limit);
    if fragment_mode {
        // max_message_size does not apply to streamed fragments, so bound the frame instead
        // to reach the same checks.
        config = config.max_frame_size(limit as u64);
    }

    let mut check = Checker::new(role, config.clone());
    let mut conn = Connection::new(role, config);
    let mut buf = BytesMut::new();
    let mut rng = u32::from(*seed) | 0x100;
    let mut rest = wire;
    while !rest.is_empty() {
        rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (1 + (rng >> 16) as usize % max_chunk.min(rest.len())).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        // One buffer for the whole stream: handle_data leaves a partial frame at its front,
        // possibly already unmasked, and the next bytes must land after it.
        buf.extend_from_slice(chunk);
        let failed_before = conn.error().is_some();
        let result = conn.handle_data(&mut buf);
        check.after_data(&conn, &result, failed_before);
        check.drain(&mut conn);
    }
    conn.handle_eof();
    check.after_eof(&conn);
    check.drain(&mut conn);
    check.finish();
}

/// What the checks remember between calls.
struct Checker {
    role: Role,
    config: Config,
    failed: bool,
    /// Set once the events of the failing chunk have been drained: from then on input is
    /// ignored, so no event may appear.
    quiet: bool,
    /// Closed is terminal: once seen, every later state must be Closed too.
    closed: bool,
    /// Every byte handed out by poll_transmit, parsed as frames at the end.
    wire_out: Vec<u8>,
    shutdowns: usize,
    /// A data chunk after a Shutdown would be written to a socket already closed.
    data_after_shutdown: bool,
    /// In fragment mode: the text message being streamed, checked as UTF-8 when it ends.
    text: Option<Vec<u8>>,
    /// In fragment mode: where the next part of the current frame must start, while one is
    /// half delivered.
    frame_next: Option<(u64, u64)>,
    in_message: bool,
    message_kind: Option<DataKind>,
}

impl Checker {
    fn new(role: Role, config: Config) -> Self {
        Checker {
            role,
            config,
            failed: false,
            quiet: false,
            closed: false,
            wire_out: Vec::new(),
            shutdowns: 0,
            data_after_shutdown: false,
            text: None,
            frame_next: None,
            in_message: false,
            message_kind: None,
        }
    }

    fn after_data(
        &mut self,
        conn: &Connection,
        result: &Result<(), ProtocolError>,
        failed_before: bool,
    ) {
        if failed_before {
            // "later input is ignored": no second error, no new events.
            assert_eq!(result, &Ok(()), "input after a failure must be ignored");
        }
        if let Err(e) = result {
            assert!(
                !matches!(e, ProtocolError::Extension(_)),
                "extension error without an extension: {e:?}"
            );
            assert_eq!(conn.error(), Some(e), "error() must report the failure");
            self.failed = true;
        }
        if self.failed {
            assert!(conn.error().is_some(), "error() forgot the failure");
        }
    }

    fn after_eof(&mut self, conn: &Connection) {
        assert_eq!(conn.state(), State::Closed, "EOF must close the connection");
        self.check_state(conn);
    }

    fn check_state(&mut self, conn: &Connection) {
        let state = conn.state();
        if self.closed {
            assert_eq!(state, State::Closed, "left the Closed state");
        }
        self.closed |= state == State::Closed;
        assert_eq!(conn.is_closed(), state == State::Closed);
    }

    fn drain(&mut self, conn: &mut Connection) {
        while let Some(event) = conn.poll_event() {
            assert!(!self.quiet, "event after the connection failed: {event:?}");
            self.event(event);
        }
        // The failure's close frame waits for the events before it; once they are taken, the
        // connection is closed.
        if self.failed {
            assert_eq!(
                conn.state(),
                State::Closed,
                "a failed connection must be closed once its events are taken"
            );
        }
        self.check_state(conn);
        self.quiet = self.failed;
        while let Some(transmit) = conn.poll_transmit() {
            match transmit {
                Transmit::Data(bytes) => {
                    self.data_after_shutdown |= self.shutdowns > 0;
                    self.wire_out.extend_from_slice(&bytes);
                }
                Transmit::Shutdown => self.shutdowns += 1,
            }
        }
        self.check_state(conn);
    }

    fn event(&mut self, event: Event) {
        let limits = *self.config.limits();
        match event {
            Event::Message(message) => {
                if message.is_data() {
                    assert!(
                        !self.config.is_fragment_mode(),
                        "whole message in fragment mode"
                    );
                    assert!(
                        message.payload().len() <= limits.max_message_size,
                        "message of {} bytes over the limit {}",
                        message.payload().len(),
                        limits.max_message_size
                    );
                } else {
                    assert!(message.payload().len() <= 125, "control payload over 125");
                }
                if let Message::Text(t) = &message {
                    assert!(
                        std::str::from_utf8(t.as_bytes()).is_ok(),
                        "text is not UTF-8"
                    );
                }
            }
            Event::Fragment(f) => {
                assert!(self.config.is_fragment_mode(), "fragment in message mode");
                let len = f.data.len() as u64;
                match self.frame_next {
                    Some((offset, left)) => {
                        assert_eq!(f.offset, offset, "fragment offset skipped bytes");
                        assert_eq!(f.bytes_left + len, left, "bytes_left does not add up");
                    }
                    None => {
                        assert_eq!(f.offset, 0, "new frame must start at offset 0");
                        assert_eq!(f.is_first_frame, !self.in_message, "is_first_frame wrong");
                        if let Some(kind) = self.message_kind {
                            assert_eq!(f.kind, kind, "continuation changed the message kind");
                        }
                    }
                }
                assert!(
                    f.offset + len + f.bytes_left <= limits.max_frame_size,
                    "frame over max_frame_size"
                );
                self.frame_next = (f.bytes_left > 0).then_some((f.offset + len, f.bytes_left));
                self.in_message = true;
                self.message_kind = Some(f.kind);
                if f.kind == DataKind::Text {
                    self.text
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&f.data);
                }
                if f.is_message_end() {
                    if let Some(text) = self.text.take() {
                        assert!(
                            std::str::from_utf8(&text).is_ok(),
                            "streamed text not UTF-8"
                        );
                    }
                    self.in_message = false;
                    self.message_kind = None;
                }
            }
            Event::Close(close) => {
                assert!(
                    close.code.is_sendable()
                        || close.code == CloseCode::NO_STATUS
                        || close.code == CloseCode::ABNORMAL,
                    "close event with a code that cannot be on the wire: {close:?}"
                );
                assert!(close.reason.len() <= weft_proto::close::MAX_REASON_BYTES);
            }
            Event::Raw(_) => panic!("raw event without raw mode"),
            other => panic!("unknown event {other:?}"),
        }
    }

    /// Parses what the connection wrote: whole frames, masked exactly when a client sent them
    /// (§5.1), nothing after the close frame, and no PONG unless auto-PONG is on.
    fn finish(self) {
        assert!(self.shutdowns > 0, "no Shutdown after EOF");
        assert!(!self.data_after_shutdown, "data after Shutdown");
        let mut out = self.wire_out.as_slice();
        let mut closed = false;
        while !out.is_empty() {
            assert!(!closed, "frame after our close frame");
            let (header, len) = match FrameHeader::decode(out) {
                Ok(Some(decoded)) => decoded,
                other => panic!("we wrote a bad or partial frame header: {other:?}"),
            };
            assert_eq!(
                header.mask.is_some(),
                self.role == Role::Client,
                "masking rule"
            );
            assert_eq!(header.rsv, 0, "RSV bits without an extension");
            let end =
                usize::try_from(header.payload_len).map_or(usize::MAX, |n| n.saturating_add(len));
            assert!(end <= out.len(), "we wrote a partial frame");
            let mut payload = out[len..end].to_vec();
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            match header.opcode {
                OpCode::Close => {
                    closed = true;
                    if let Err(e) = CloseFrame::parse(&payload) {
                        panic!("we wrote a close frame the peer must reject: {e:?}");
                    }
                }
                OpCode::Pong => assert!(self.config.is_auto_pong(), "PONG with auto-PONG off"),
                other => panic!("the read path wrote a {other:?} frame"),
            }
            out = &out[end..];
        }
    }
}
