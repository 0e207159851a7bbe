//! The multiplexed stream: how stdout and stderr share one connection when
//! there is no terminal. Each frame is an 8-byte header — stream id, three
//! zero bytes, payload length as a big-endian u32 — and the payload.
//! With a terminal (`Tty: true`) there is one stream and no header at all.
//! (moby: `pkg/stdcopy`.)
//!
//! The header comes from the peer, so nothing here allocates what it claims:
//! payloads are copied through a fixed buffer ([`copy_payload`]), and the one
//! function that returns a payload as a `Vec` ([`read_frame`]) refuses frames
//! larger than [`MAX_FRAME_VEC`]. Our supervisor (minishim, chapter 05) adds
//! a stream of its own, [`StreamType::Exit`]; readers accept it only when the
//! caller asks ([`Streams::WithExit`]).

use std::io::{self, Read, Write};

/// A frame header's size: 1 byte stream, 3 bytes padding (zero), 4 bytes
/// payload length, big-endian.
pub const HEADER_LEN: usize = 8;

/// The largest payload [`read_frame`] and [`read_frame_with_exit`] return as
/// one `Vec` (1 MiB). dockerd writes one frame per write to the stream — an
/// `io.Copy` buffer of 32 KiB or one log message — and minishim at most
/// 32 KiB, so real frames sit far below it; a bigger one can still be
/// streamed with [`read_header`] and [`copy_payload`].
pub const MAX_FRAME_VEC: u32 = 1 << 20;

/// [`copy_payload`]'s buffer: a payload crosses memory at most this much at
/// a time, whatever its header says.
const COPY_CHUNK: usize = 32 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// An error from the daemon itself; the CLI prints it and exits 1.
    System = 3,
    /// Not Docker's: minishim's (chapter 05) last frame on an exec
    /// connection, the process's exit status in decimal. Readers accept it
    /// only with [`Streams::WithExit`].
    Exit = 4,
}

impl StreamType {
    fn from_byte(byte: u8) -> Option<StreamType> {
        match byte {
            0 => Some(StreamType::Stdin),
            1 => Some(StreamType::Stdout),
            2 => Some(StreamType::Stderr),
            3 => Some(StreamType::System),
            4 => Some(StreamType::Exit),
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
            StreamType::Exit => "exit",
        }
    }
}

/// Which stream numbers a reader accepts; any other is an error naming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streams {
    /// Docker's four (0 stdin, 1 stdout, 2 stderr, 3 system): what a
    /// daemon sends.
    Docker,
    /// Docker's four and 4, [`StreamType::Exit`]: an exec connection to
    /// minishim.
    WithExit,
}

// ANCHOR: frame
/// The header of a frame carrying `len` bytes of `stream`: the stream
/// number, three zero bytes, the length as a big-endian u32. Stream 4
/// ([`StreamType::Exit`]) is minishim's exit-status frame, not Docker's.
pub const fn frame_header(stream: StreamType, len: u32) -> [u8; HEADER_LEN] {
    let size = len.to_be_bytes();
    [stream as u8, 0, 0, 0, size[0], size[1], size[2], size[3]]
}

/// Writes one frame in a single `write_all`, so frames from two threads
/// sharing a locked writer never interleave mid-frame.
pub fn write_frame(w: &mut dyn Write, stream: StreamType, payload: &[u8]) -> io::Result<()> {
    // The length field is a u32: a longer payload goes out as several frames.
    for piece in payload.chunks(u32::MAX as usize) {
        let mut frame = Vec::with_capacity(HEADER_LEN + piece.len());
        // `as` cannot truncate: `chunks` keeps each piece within u32::MAX.
        frame.extend_from_slice(&frame_header(stream, piece.len() as u32));
        frame.extend_from_slice(piece);
        w.write_all(&frame)?;
    }
    w.flush()
}
// ANCHOR_END: frame

/// Reads and checks one frame header; returns its stream and payload
/// length, leaving the payload unread (pass them to [`copy_payload`]).
/// `Ok(None)` at a clean end of stream; a trailing fragment shorter than a
/// header is ignored, as moby's `StdCopy` does. Non-zero padding, or a
/// stream `accept` does not allow, is an `InvalidData` error.
pub fn read_header(r: &mut dyn Read, accept: Streams) -> io::Result<Option<(StreamType, u32)>> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match r.read(&mut header[filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    parse_header(&header, accept).map(Some)
}

/// The checks behind [`read_header`].
fn parse_header(header: &[u8; HEADER_LEN], accept: Streams) -> io::Result<(StreamType, u32)> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    // Bytes 1..4 are padding; moby's StdWriter always sends zeros, so
    // anything else means the bytes are not frames at all (often the raw
    // output of a container started with a terminal).
    if header[1..4] != [0, 0, 0] {
        return Err(invalid(format!(
            "stream frame header with non-zero padding: {} — not Docker's multiplexed \
             stream (a tty stream is raw)",
            hex(&header[1..4])
        )));
    }
    let stream = match StreamType::from_byte(header[0]) {
        Some(StreamType::Exit) if accept == Streams::Docker => {
            return Err(invalid(format!(
                "stream 4 (minishim's exit-status frame) in stream frame header {}, \
                 where only Docker's streams 0 to 3 are expected",
                hex(header)
            )));
        }
        Some(stream) => stream,
        None => {
            return Err(invalid(format!(
                "unknown stream {} in stream frame header {} — not Docker's multiplexed \
                 stream (a tty stream is raw)",
                header[0],
                hex(header)
            )));
        }
    };
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    Ok((stream, len))
}

/// `01 88 88`: bytes as an error message shows them.
fn hex(bytes: &[u8]) -> String {
    let pieces: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pieces.join(" ")
}

/// Copies one frame's payload, `len` bytes as its header announced, from `r`
/// to `w` through a fixed 32 KiB buffer: memory use does not depend on the
/// header. A stream that ends first is an `UnexpectedEof` error naming how
/// many bytes were missing; what did arrive has been written to `w`.
pub fn copy_payload(r: &mut dyn Read, len: u32, w: &mut dyn Write) -> io::Result<()> {
    let mut buf = [0u8; COPY_CHUNK];
    let mut left = len;
    while left > 0 {
        // u32 -> usize is lossless on every target the workshop builds for.
        let want = buf.len().min(left as usize);
        match r.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "stream frame truncated: its header announced {len} bytes, the \
                         stream ended after {} ({left} missing)",
                        len - left
                    ),
                ));
            }
            Ok(n) => {
                w.write_all(&buf[..n])?;
                // `as` cannot truncate: n <= want <= left, a u32.
                left -= n as u32;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads one frame of Docker's streams (0 to 3) into memory. Returns
/// `Ok(None)` at a clean end of stream; a trailing fragment shorter than a
/// header is ignored, as the CLI does. A frame larger than
/// [`MAX_FRAME_VEC`] is an error (stream those with [`read_header`] and
/// [`copy_payload`]); so is stream 4, see [`read_frame_with_exit`].
pub fn read_frame(r: &mut dyn Read) -> io::Result<Option<(StreamType, Vec<u8>)>> {
    read_frame_accepting(r, Streams::Docker)
}

/// [`read_frame`] for an exec connection to minishim: stream 4,
/// [`StreamType::Exit`], is accepted too.
pub fn read_frame_with_exit(r: &mut dyn Read) -> io::Result<Option<(StreamType, Vec<u8>)>> {
    read_frame_accepting(r, Streams::WithExit)
}

fn read_frame_accepting(
    r: &mut dyn Read,
    accept: Streams,
) -> io::Result<Option<(StreamType, Vec<u8>)>> {
    let Some((stream, len)) = read_header(r, accept)? else {
        return Ok(None);
    };
    if len > MAX_FRAME_VEC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} frame of {len} bytes is larger than read_frame's limit of \
                 {MAX_FRAME_VEC} bytes",
                stream.name()
            ),
        ));
    }
    // Grows with the bytes that arrive, not with what the header claims.
    let mut payload = Vec::new();
    copy_payload(r, len, &mut payload)?;
    Ok(Some((stream, payload)))
}

/// Copies a multiplexed stream to stdout and stderr until it ends, frame
/// by frame and in bounded pieces, flushing after each frame. A system
/// frame becomes an error (its first [`MAX_FRAME_VEC`] bytes as message);
/// stdin frames are skipped; stream 4 is an error, as in [`read_frame`].
pub fn demultiplex(
    r: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> io::Result<()> {
    while let Some((stream, len)) = read_header(r, Streams::Docker)? {
        match stream {
            StreamType::Stdout => {
                copy_payload(r, len, stdout)?;
                stdout.flush()?;
            }
            StreamType::Stderr => {
                copy_payload(r, len, stderr)?;
                stderr.flush()?;
            }
            StreamType::System => {
                // The stream stops here, so the rest of a huge frame is left unread.
                let mut message = Vec::new();
                copy_payload(r, len.min(MAX_FRAME_VEC), &mut message)?;
                return Err(io::Error::other(format!(
                    "error from daemon in stream: {}",
                    String::from_utf8_lossy(&message)
                )));
            }
            StreamType::Stdin => copy_payload(r, len, &mut io::sink())?,
            // read_header refuses it with Streams::Docker; kept an error, not a panic.
            StreamType::Exit => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream 4 (minishim's exit-status frame) in a Docker multiplexed stream",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the largest buffer it was asked to fill.
    struct Recording<R> {
        inner: R,
        largest: usize,
    }

    impl<R: Read> Read for Recording<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            self.inner.read(buf)
        }
    }

    /// Hands out one byte per read, with an `Interrupted` before each.
    struct Trickle<'a> {
        bytes: &'a [u8],
        interrupt: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let Some((first, rest)) = self.bytes.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = *first;
            self.bytes = rest;
            Ok(1)
        }
    }

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
    fn frame_header_is_the_wire_format() {
        assert_eq!(
            frame_header(StreamType::Stderr, 258),
            [2, 0, 0, 0, 0, 0, 1, 2]
        );
        assert_eq!(
            frame_header(StreamType::Exit, u32::MAX),
            [4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn the_fuzzed_header_is_refused_before_any_payload() {
        let input = [
            0x01, 0x88, 0x88, 0x88, 0x88, 0x00, 0x00, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x00,
        ];
        let mut reader = Recording {
            inner: &input[..],
            largest: 0,
        };
        let err = read_frame(&mut reader).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .contains("non-zero padding: 88 88 88 — not Docker's multiplexed stream"),
            "{err}"
        );
        assert_eq!(reader.largest, HEADER_LEN);
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        assert!(demultiplex(&mut &input[..], &mut out, &mut errs).is_err());
        assert!(out.is_empty() && errs.is_empty());
    }

    #[test]
    fn a_huge_length_is_never_allocated() {
        // 0x8800006d = 2281701485 bytes announced, 5 sent.
        let input = b"\x01\x00\x00\x00\x88\x00\x00\x6dhello";
        let err = read_frame(&mut &input[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .contains("stdout frame of 2281701485 bytes is larger than"),
            "{err}"
        );
        // Streaming copies what arrives in bounded pieces, then names the gap.
        let mut reader = Recording {
            inner: &input[..],
            largest: 0,
        };
        let mut out = Vec::new();
        let err = demultiplex(&mut reader, &mut out, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("(2281701480 missing)"), "{err}");
        assert_eq!(out, b"hello");
        assert!(reader.largest <= COPY_CHUNK, "read into {}", reader.largest);
        // Just under read_frame's limit: the Vec only holds what arrived.
        let mut under = frame_header(StreamType::Stderr, MAX_FRAME_VEC).to_vec();
        under.extend_from_slice(b"abc");
        let mut reader = Recording {
            inner: under.as_slice(),
            largest: 0,
        };
        let err = read_frame(&mut reader).unwrap_err();
        assert!(err.to_string().contains("(1048573 missing)"), "{err}");
        assert!(reader.largest <= COPY_CHUNK, "read into {}", reader.largest);
    }

    #[test]
    fn non_zero_padding_is_refused() {
        for header in [
            b"\x01\x00\x01\x00\x00\x00\x00\x00",
            b"\x02\x00\x00\xff\x00\x00\x00\x00",
        ] {
            let err = read_frame(&mut &header[..]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("non-zero padding"), "{err}");
        }
        let err = read_frame(&mut &b"\x01\x00\x01\x00\x00\x00\x00\x00"[..]).unwrap_err();
        assert!(err.to_string().contains("padding: 00 01 00"), "{err}");
        // A terminal's raw output read as frames.
        let err = read_frame(&mut &b"hello, world\n"[..]).unwrap_err();
        assert!(err.to_string().contains("a tty stream is raw"), "{err}");
    }

    #[test]
    fn stream_4_only_when_asked() {
        let wire = b"\x04\x00\x00\x00\x00\x00\x00\x01\x37";
        let err = read_frame(&mut &wire[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let text = err.to_string();
        assert!(
            text.contains("stream 4 (minishim's exit-status frame)"),
            "{text}"
        );
        let err = demultiplex(&mut &wire[..], &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("stream 4"), "{err}");
        assert!(read_header(&mut &wire[..], Streams::Docker).is_err());

        assert_eq!(
            read_frame_with_exit(&mut &wire[..]).unwrap(),
            Some((StreamType::Exit, b"7".to_vec()))
        );
        assert_eq!(
            read_header(&mut &wire[..], Streams::WithExit).unwrap(),
            Some((StreamType::Exit, 1))
        );
        // 5 is nobody's, even with the exit frame allowed.
        let err = read_frame_with_exit(&mut &b"\x05\x00\x00\x00\x00\x00\x00\x00"[..]).unwrap_err();
        assert!(err.to_string().contains("unknown stream 5"), "{err}");
    }

    #[test]
    fn a_frame_split_across_small_reads_is_reassembled() {
        let mut wire = Vec::new();
        write_frame(&mut wire, StreamType::Stdout, b"out one\n").unwrap();
        write_frame(&mut wire, StreamType::Stderr, b"err\n").unwrap();
        write_frame(&mut wire, StreamType::Stdout, b"out two\n").unwrap();
        let mut trickle = Trickle {
            bytes: &wire,
            interrupt: false,
        };
        let mut frames = Vec::new();
        while let Some(frame) = read_frame(&mut trickle).unwrap() {
            frames.push(frame);
        }
        assert_eq!(
            frames,
            [
                (StreamType::Stdout, b"out one\n".to_vec()),
                (StreamType::Stderr, b"err\n".to_vec()),
                (StreamType::Stdout, b"out two\n".to_vec()),
            ]
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut trickle = Trickle {
            bytes: &wire,
            interrupt: false,
        };
        demultiplex(&mut trickle, &mut out, &mut err).unwrap();
        assert_eq!(out, b"out one\nout two\n");
        assert_eq!(err, b"err\n");
    }

    #[test]
    fn a_truncated_payload_names_what_is_missing() {
        let mut truncated = &b"\x01\x00\x00\x00\x00\x00\x00\x09abc"[..];
        let err = read_frame(&mut truncated).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            err.to_string()
                .contains("announced 9 bytes, the stream ended after 3 (6 missing)"),
            "{err}"
        );
    }

    #[test]
    fn round_trip_stdout_and_stderr() {
        // Larger than the copy buffer, so payloads cross it in several pieces.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for stream in [StreamType::Stdout, StreamType::Stderr] {
            for payload in [&b"x"[..], &big] {
                let mut wire = Vec::new();
                write_frame(&mut wire, stream, payload).unwrap();
                assert_eq!(
                    wire[..HEADER_LEN],
                    frame_header(stream, payload.len() as u32)
                );
                let mut r = wire.as_slice();
                assert_eq!(
                    read_frame(&mut r).unwrap(),
                    Some((stream, payload.to_vec()))
                );
                assert_eq!(read_frame(&mut r).unwrap(), None);

                let (mut out, mut err) = (Vec::new(), Vec::new());
                demultiplex(&mut wire.as_slice(), &mut out, &mut err).unwrap();
                let (got, other) = match stream {
                    StreamType::Stdout => (out, err),
                    _ => (err, out),
                };
                assert_eq!(got, payload);
                assert!(other.is_empty());
            }
        }
    }

    #[test]
    fn bad_streams() {
        let mut short = &b"\x01\x00\x00"[..];
        assert!(read_frame(&mut short).unwrap().is_none());
        let mut unknown = &b"\x09\x00\x00\x00\x00\x00\x00\x01x"[..];
        let err = read_frame(&mut unknown).unwrap_err();
        assert!(err.to_string().contains("unknown stream 9"), "{err}");
        let mut system = &b"\x03\x00\x00\x00\x00\x00\x00\x04boom"[..];
        let err = demultiplex(&mut system, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("boom"));
        // Stdin frames are skipped without losing the frames after them.
        let mut stdin_then_out =
            &b"\x00\x00\x00\x00\x00\x00\x00\x02in\x01\x00\x00\x00\x00\x00\x00\x03out"[..];
        let mut out = Vec::new();
        demultiplex(&mut stdin_then_out, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(out, b"out");
    }
}
