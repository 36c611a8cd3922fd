//! The transcript writer: serialises decision lines and writes them on a thread of its own, in
//! exactly the order the consumer hands them over, so JSON encoding, writing and freeing the lines
//! are off the serial path (the one fold). Must not reorder, drop, merge or judge lines: the bytes
//! are those `Line::to_json` gives, one line each, as when the consumer wrote them itself.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::core::transcript::Line;

/// Lines handed over at once: large enough that the channel costs nothing per line.
const CHUNK: usize = 1024;
/// Chunks queued for the writer before the consumer waits (bounds memory to a few MB).
const QUEUED: usize = 16;

/// The consumer's end: collects lines and hands them over in chunks.
pub struct Sink {
    tx: Option<SyncSender<Vec<Line>>>,
    pending: Vec<Line>,
}

impl Sink {
    /// Adds lines in order; false once the writer has stopped (a write failed).
    pub fn push(&mut self, lines: Vec<Line>) -> bool {
        if self.pending.is_empty() && lines.len() >= CHUNK {
            return self.send(lines);
        }
        self.pending.extend(lines);
        if self.pending.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
            return self.send(chunk);
        }
        self.tx.is_some()
    }

    fn send(&mut self, chunk: Vec<Line>) -> bool {
        if let Some(tx) = &self.tx {
            if tx.send(chunk).is_err() {
                self.tx = None;
            }
        }
        self.tx.is_some()
    }

    /// Hands over what is left and closes the channel, so the writer finishes.
    pub fn close(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.send(rest);
        }
        self.tx = None;
    }
}

/// A sink and the receiver the writer thread drains with [`write_all`].
pub fn channel() -> (Sink, Receiver<Vec<Line>>) {
    let (tx, rx) = sync_channel(QUEUED);
    (
        Sink {
            tx: Some(tx),
            pending: Vec::with_capacity(CHUNK),
        },
        rx,
    )
}

/// Writes every line received, in order, then flushes; stops at the first error (the sink then
/// sees the channel closed).
pub fn write_all(rx: Receiver<Vec<Line>>, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    for chunk in rx {
        for line in &chunk {
            // The bytes of `Line::to_json` (serde_json's to_string is to_vec), without a String
            // per line.
            serde_json::to_writer(&mut buf, line).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        drop(chunk);
        out.write_all(&buf)?;
        buf.clear();
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::Action;
    use crate::core::fold::Transition;
    use crate::core::transcript::ExposureLabel;

    fn line(i: usize) -> Line {
        Line {
            event_id: Some(format!("ev-{i}")),
            event_time: "2024-05-01T00:00:00Z".into(),
            event_name: "PutBucketAcl".into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            bucket: Some(format!("b-{}", i % 7)),
            key: None,
            exposure: ExposureLabel::Public,
            transition: Transition::Unchanged,
            action: Action::None,
            reasons: vec!["acl:AllUsers:READ".into()],
            note: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn bytes_and_order_are_those_of_to_json() {
        let (mut sink, rx) = channel();
        let mut out: Vec<u8> = Vec::new();
        let mut want = String::new();
        std::thread::scope(|s| {
            let w = s.spawn(|| write_all(rx, &mut out));
            let mut i = 0;
            // Pushes of every size: empty, single, across and beyond a chunk.
            for n in [0, 1, 5, CHUNK - 1, 2, CHUNK, 3 * CHUNK + 7, 0, 1] {
                let lines: Vec<Line> = (i..i + n).map(line).collect();
                for l in &lines {
                    want.push_str(&l.to_json());
                    want.push('\n');
                }
                i += n;
                assert!(sink.push(lines));
            }
            sink.close();
            w.join().unwrap().unwrap();
        });
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_stops_the_sink_and_is_returned() {
        let (mut sink, rx) = channel();
        let mut full = Full;
        std::thread::scope(|s| {
            let w = s.spawn(|| write_all(rx, &mut full));
            let mut pushes = 0;
            while sink.push((0..CHUNK).map(line).collect()) {
                pushes += 1;
                assert!(pushes < 10 * QUEUED, "the sink never saw the writer stop");
            }
            sink.close();
            let e = w.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        });
    }
}
