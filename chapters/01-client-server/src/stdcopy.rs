//! The multiplexed stream: how stdout and stderr share one connection when
//! there is no terminal. Each frame is an 8-byte header — stream id, three
//! zero bytes, payload length as a big-endian u32 — and the payload.
//! With a terminal (`Tty: true`) there is one stream and no header at all.
//! (moby: `pkg/stdcopy`.)

use std::io::{self, Read, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// An error from the daemon itself; the CLI prints it and exits 1.
    System = 3,
}

impl StreamType {
    fn from_byte(byte: u8) -> Option<StreamType> {
        match byte {
            0 => Some(StreamType::Stdin),
            1 => Some(StreamType::Stdout),
            2 => Some(StreamType::Stderr),
            3 => Some(StreamType::System),
            _ => None,
        }
    }

    /// The name used in json-file logs and in the API.
    pub fn name(self) -> &'static str {
        match self {
            StreamType::Stdin => "stdin",
            StreamType::Stdout => "stdout",
            StreamType::Stderr => "stderr",
            StreamType::System => "system",
        }
    }
}

// ANCHOR: frame
/// Writes one frame in a single `write_all`, so frames from two threads
/// sharing a locked writer never interleave mid-frame.
pub fn write_frame(w: &mut dyn Write, stream: StreamType, payload: &[u8]) -> io::Result<()> {
    for piece in payload.chunks(u32::MAX as usize) {
        let mut frame = Vec::with_capacity(8 + piece.len());
        frame.extend_from_slice(&[stream as u8, 0, 0, 0]);
        frame.extend_from_slice(&(piece.len() as u32).to_be_bytes());
        frame.extend_from_slice(piece);
        w.write_all(&frame)?;
    }
    w.flush()
}
// ANCHOR_END: frame

/// Reads frames back. Returns `Ok(None)` at a clean end of stream; a
/// trailing fragment shorter than a header is ignored, as the CLI does.
pub fn read_frame(r: &mut dyn Read) -> io::Result<Option<(StreamType, Vec<u8>)>> {
    let mut header = [0u8; 8];
    let mut filled = 0;
    while filled < 8 {
        match r.read(&mut header[filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = StreamType::from_byte(header[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown stream id {} in multiplexed stream", header[0]),
        )
    })?;
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((stream, payload)))
}

/// Copies a multiplexed stream to stdout and stderr until it ends. A system
/// frame becomes an error.
pub fn demultiplex(
    r: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> io::Result<()> {
    while let Some((stream, payload)) = read_frame(r)? {
        match stream {
            StreamType::Stdout => {
                stdout.write_all(&payload)?;
                stdout.flush()?;
            }
            StreamType::Stderr => {
                stderr.write_all(&payload)?;
                stderr.flush()?;
            }
            StreamType::System => {
                return Err(io::Error::other(format!(
                    "error from daemon in stream: {}",
                    String::from_utf8_lossy(&payload)
                )));
            }
            StreamType::Stdin => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_the_captured_bytes() {
        let mut wire = Vec::new();
        write_frame(&mut wire, StreamType::Stdout, b"hi\n").unwrap();
        write_frame(&mut wire, StreamType::Stderr, b"oops\n").unwrap();
        assert_eq!(
            wire,
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n\x02\x00\x00\x00\x00\x00\x00\x05oops\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demultiplex(&mut wire.as_slice(), &mut out, &mut err).unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"hi\n"[..], &b"oops\n"[..])
        );
    }

    #[test]
    fn bad_streams() {
        let mut short = &b"\x01\x00\x00"[..];
        assert!(read_frame(&mut short).unwrap().is_none());
        let mut unknown = &b"\x09\x00\x00\x00\x00\x00\x00\x01x"[..];
        assert!(read_frame(&mut unknown).is_err());
        let mut truncated = &b"\x01\x00\x00\x00\x00\x00\x00\x09abc"[..];
        assert!(read_frame(&mut truncated).is_err());
        let mut system = &b"\x03\x00\x00\x00\x00\x00\x00\x04boom"[..];
        let err = demultiplex(&mut system, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("boom"));
    }
}
