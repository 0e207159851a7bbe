//! The parts of an HTTP/1.1 message that requests and responses share: reading
//! the head, and the two ways a body is delimited (RFC 9112 §6): a
//! `Content-Length`, or `Transfer-Encoding: chunked` — a series of
//! `<hex size>\r\n<bytes>\r\n` ending with a zero-size chunk.

use std::io::{self, BufRead, Read, Write};

/// Why a message head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed the connection in the middle of a head.
    Truncated,
    /// The head did not end within the limit.
    TooLarge,
    Io(io::Error),
}

/// Reads one message head, up to and including the blank line that ends it.
/// Returns `Ok(None)` when the peer closed the connection cleanly between
/// messages (how a keep-alive connection normally ends).
pub fn read_head<R: BufRead>(reader: &mut R, limit: usize) -> Result<Option<Vec<u8>>, HeadError> {
    let mut head: Vec<u8> = Vec::new();
    let mut blank = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeadError::Io(e)),
        };
        if available.is_empty() {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(HeadError::Truncated)
            };
        }
        // RFC 9112 §2.2: a server SHOULD ignore empty lines before a
        // request line (some clients send a CRLF after a body).
        if head.is_empty() {
            let skip = available
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if skip > 0 {
                reader.consume(skip);
                blank += skip;
                if blank > limit {
                    return Err(HeadError::TooLarge);
                }
                continue;
            }
        }
        let searched_from = head.len().saturating_sub(3);
        let take = available.len().min(limit + 1 - head.len());
        head.extend_from_slice(&available[..take]);
        if let Some(pos) = find(&head[searched_from..], b"\r\n\r\n") {
            let end = searched_from + pos + 4;
            // Give back what belongs to the body (or to a hijacked stream).
            let consumed_now = take - (head.len() - end);
            reader.consume(consumed_now);
            head.truncate(end);
            return Ok(Some(head));
        }
        reader.consume(take);
        if head.len() > limit {
            return Err(HeadError::TooLarge);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How the body of a message is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Only for responses: the body ends when the server closes the connection.
    UntilClose,
}

impl Framing {
    /// Chooses the framing from the headers (RFC 9112 §6.3). Both headers at
    /// once is a classic request-smuggling trick: refuse it.
    pub fn from_headers(headers: &[(String, String)]) -> Result<Framing, String> {
        let values = |name: &str| -> Vec<&String> {
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .collect()
        };
        let encodings = values("transfer-encoding");
        let lengths = values("content-length");
        if !encodings.is_empty() {
            if !lengths.is_empty() {
                return Err("both Transfer-Encoding and Content-Length are set".into());
            }
            let last = encodings
                .last()
                .map(|v| v.trim().to_ascii_lowercase())
                .unwrap_or_default();
            if last != "chunked" {
                return Err(format!(
                    "unsupported Transfer-Encoding {last:?} (only chunked)"
                ));
            }
            return Ok(Framing::Chunked);
        }
        match lengths.as_slice() {
            [] => Ok(Framing::None),
            [one] => one
                .trim()
                .parse::<u64>()
                .map(|n| {
                    if n == 0 {
                        Framing::None
                    } else {
                        Framing::Length(n)
                    }
                })
                .map_err(|_| format!("invalid Content-Length {one:?}")),
            _ => Err("more than one Content-Length".into()),
        }
    }
}

const MAX_CHUNK_LINE: usize = 4096;

/// Reads a body as its framing says, and no further: the next message on a
/// keep-alive connection starts right after it.
pub struct BodyReader<R> {
    inner: R,
    framing: Framing,
    /// Bytes left in the body (Length) or in the current chunk (Chunked).
    remaining: u64,
    done: bool,
}

impl<R: BufRead> BodyReader<R> {
    pub fn new(inner: R, framing: Framing) -> BodyReader<R> {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        BodyReader {
            inner,
            framing,
            remaining,
            done: framing == Framing::None,
        }
    }

    /// True once the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.inner)
            .take(MAX_CHUNK_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunked body: truncated or overlong chunk line",
            ));
        }
        String::from_utf8(line)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunked body: chunk line is not text",
                )
            })
    }

    /// Moves to the next chunk; returns false at the last (zero-size) chunk.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let line = self.read_line()?;
        // Chunk extensions (";name=value") are allowed and meaningless to us.
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("chunked body: invalid chunk size {size_text:?}"),
            )
        })?;
        if size == 0 {
            // Trailer fields, then the empty line that ends the message.
            while !self.read_line()?.is_empty() {}
            return Ok(false);
        }
        self.remaining = size;
        Ok(true)
    }

    fn expect_crlf(&mut self) -> io::Result<()> {
        if !self.read_line()?.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunked body: chunk not followed by CRLF",
            ));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::None => Ok(0),
            Framing::UntilClose => {
                let n = self.inner.read(buf)?;
                self.done = n == 0;
                Ok(n)
            }
            Framing::Length(_) | Framing::Chunked => {
                if self.remaining == 0 {
                    // Only chunked bodies get here: start the next chunk.
                    if !self.next_chunk()? {
                        self.done = true;
                        return Ok(0);
                    }
                }
                let want = buf
                    .len()
                    .min(self.remaining.min(usize::MAX as u64) as usize);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the middle of a body",
                    ));
                }
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    match self.framing {
                        Framing::Length(_) => self.done = true,
                        _ => self.expect_crlf()?,
                    }
                }
                Ok(n)
            }
        }
    }
}

/// Writes each `write` as one chunk and flushes it at once, so a streamed
/// message (a log line, a progress update) reaches the peer when it happens.
pub struct ChunkedWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkedWriter<W> {
    pub fn new(inner: W) -> ChunkedWriter<W> {
        ChunkedWriter { inner }
    }

    /// Writes the zero-size chunk that ends the body.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            // An empty chunk would end the body.
            return Ok(0);
        }
        let mut chunk = Vec::with_capacity(buf.len() + 12);
        write!(chunk, "{:x}\r\n", buf.len())?;
        chunk.extend_from_slice(buf);
        chunk.extend_from_slice(b"\r\n");
        self.inner.write_all(&chunk)?;
        self.inner.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The standard reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "UPGRADED",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor};

    #[test]
    fn head_stops_at_blank_line_and_leaves_the_body() {
        let mut r = BufReader::new(Cursor::new(
            b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r\nBODY".to_vec(),
        ));
        let head = read_head(&mut r, 1024).unwrap().unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nA: b\r\n\r\n");
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "BODY");
    }

    #[test]
    fn blank_lines_before_the_request_line_are_skipped() {
        // "\r\n\r\n" alone looks like an empty head: it must not end one.
        let mut r = BufReader::new(Cursor::new(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n".to_vec()));
        assert_eq!(
            read_head(&mut r, 1024).unwrap().unwrap(),
            b"GET / HTTP/1.1\r\n\r\n"
        );
        let mut only_blank = BufReader::new(Cursor::new(b"\r\n\r\n".to_vec()));
        assert!(read_head(&mut only_blank, 1024).unwrap().is_none());
    }

    #[test]
    fn head_split_across_tiny_reads() {
        let data = b"GET / HTTP/1.1\r\nX: y\r\n\r\nZ".to_vec();
        let mut r = BufReader::with_capacity(1, Cursor::new(data));
        assert_eq!(
            read_head(&mut r, 1024).unwrap().unwrap(),
            b"GET / HTTP/1.1\r\nX: y\r\n\r\n"
        );
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"Z");
    }

    #[test]
    fn head_limits_and_eof() {
        let mut r = BufReader::new(Cursor::new(vec![b'a'; 5000]));
        assert!(matches!(read_head(&mut r, 1024), Err(HeadError::TooLarge)));
        let mut r = BufReader::new(Cursor::new(b"GET / HT".to_vec()));
        assert!(matches!(read_head(&mut r, 1024), Err(HeadError::Truncated)));
        let mut r = BufReader::new(Cursor::new(Vec::new()));
        assert!(read_head(&mut r, 1024).unwrap().is_none());
    }

    #[test]
    fn chunked_body_round_trip() {
        let mut wire = Vec::new();
        let mut w = ChunkedWriter::new(&mut wire);
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        w.finish().unwrap();
        wire.extend_from_slice(b"NEXT");
        let mut cursor = BufReader::new(Cursor::new(wire));
        let mut body = BodyReader::new(&mut cursor, Framing::Chunked);
        let mut text = String::new();
        body.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello world");
        assert!(body.is_done());
        let mut rest = String::new();
        cursor.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT", "the reader must stop at the end of the body");
    }

    #[test]
    fn chunked_extensions_trailers_and_errors() {
        let wire = b"5;name=x\r\nhello\r\n0\r\nTrailer: t\r\n\r\n".to_vec();
        let mut body = BodyReader::new(BufReader::new(Cursor::new(wire)), Framing::Chunked);
        let mut text = String::new();
        body.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");

        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhel",
        ] {
            let mut body =
                BodyReader::new(BufReader::new(Cursor::new(bad.to_vec())), Framing::Chunked);
            assert!(
                body.read_to_end(&mut Vec::new()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn framing_rules() {
        let h = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(Framing::from_headers(&h(&[])).unwrap(), Framing::None);
        assert_eq!(
            Framing::from_headers(&h(&[("Content-Length", "0")])).unwrap(),
            Framing::None
        );
        assert_eq!(
            Framing::from_headers(&h(&[("content-length", "12")])).unwrap(),
            Framing::Length(12)
        );
        assert_eq!(
            Framing::from_headers(&h(&[("Transfer-Encoding", "chunked")])).unwrap(),
            Framing::Chunked
        );
        assert!(Framing::from_headers(&h(&[("Content-Length", "-1")])).is_err());
        assert!(
            Framing::from_headers(&h(&[("Content-Length", "1"), ("Content-Length", "2")])).is_err()
        );
        assert!(
            Framing::from_headers(&h(&[
                ("Transfer-Encoding", "chunked"),
                ("Content-Length", "2")
            ]))
            .is_err()
        );
        assert!(Framing::from_headers(&h(&[("Transfer-Encoding", "gzip")])).is_err());
    }
}
