//! Layer compression, told from the stream's first bytes as Docker does
//! (`pkg/archive.DetectCompression`): the media type may lie or be missing
//! (a `docker save` archive has none), the magic number cannot.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use anyhow::bail;
use flate2::read::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// RFC 1952: every gzip member starts with ID1 ID2 = 1f 8b.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// RFC 8878: a zstd frame starts with the little-endian magic 0xFD2FB528.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Formats Docker can read for old images but OCI layers never use.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// The longest magic number we look at.
pub const MAGIC_LEN: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Tells the compression from the first bytes of a layer (up to
    /// [`MAGIC_LEN`]; fewer only if the stream is that short). Anything
    /// without a known magic number is taken as a plain tar, whose first
    /// bytes are a file name.
    pub fn detect(head: &[u8]) -> anyhow::Result<Compression> {
        if head.starts_with(GZIP_MAGIC) {
            Ok(Compression::Gzip)
        } else if head.starts_with(ZSTD_MAGIC) {
            Ok(Compression::Zstd)
        } else if head.starts_with(XZ_MAGIC) {
            bail!("xz-compressed layers are not supported (only gzip, zstd or plain tar)")
        } else if head.starts_with(BZIP2_MAGIC) {
            bail!("bzip2-compressed layers are not supported (only gzip, zstd or plain tar)")
        } else {
            Ok(Compression::None)
        }
    }

    /// A reader of the uncompressed bytes. Its errors say which stream was
    /// corrupt, since the tar reader above passes them on as they are.
    pub fn decoder<'a>(self, compressed: impl Read + 'a) -> Box<dyn Read + 'a> {
        match self {
            Compression::None => Box::new(compressed),
            // Multi-member: `pigz` and concatenated gzip files are still one
            // stream by RFC 1952, and Go's gzip.Reader (Docker's) reads them all.
            Compression::Gzip => Box::new(Labelled {
                inner: MultiGzDecoder::new(compressed),
                what: self,
            }),
            Compression::Zstd => Box::new(Labelled {
                inner: ZstdFrames::new(BufReader::new(compressed)),
                what: self,
            }),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Puts "corrupt gzip stream in layer" in front of a decoder's error.
struct Labelled<R> {
    inner: R,
    what: Compression,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let kind = match e.kind() {
                io::ErrorKind::UnexpectedEof => io::ErrorKind::UnexpectedEof,
                _ => io::ErrorKind::InvalidData,
            };
            io::Error::new(kind, format!("corrupt {} stream in layer: {e}", self.what))
        })
    }
}

/// Every zstd frame of a stream, one after the other. RFC 8878 allows
/// several frames in a row (`zstd` concatenates them, parallel encoders
/// emit many) and skippable frames among them; ruzstd's own streaming
/// decoder reads only one.
struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    // Skippable frames (magic 0x184D2A5?) carry metadata, not content.
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "truncated skippable frame",
                        ));
                    }
                }
                Err(e) => return Err(invalid(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let wanted = buf.len() - self.decoder.can_collect();
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    .map_err(invalid)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // The frame is decoded and drained. Its optional checksum is the low
            // 32 bits of XXH64 over the content; ruzstd computes it but leaves
            // the comparison to us.
            if let Some(expected) = self.decoder.get_checksum_from_data() {
                if self.decoder.get_calculated_checksum() != Some(expected) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "zstd frame checksum mismatch",
                    ));
                }
            }
            self.in_frame = false;
        }
    }
}

fn invalid(e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(compression: Compression, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        compression.decoder(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 0x08, 0]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0x24]).unwrap(),
            Compression::Zstd
        );
        // A tar starts with the first entry's name.
        assert_eq!(Compression::detect(b"bin/\0\0").unwrap(), Compression::None);
        assert_eq!(Compression::detect(b"").unwrap(), Compression::None);
        // Only a prefix of the zstd magic: not zstd.
        assert_eq!(
            Compression::detect(&[0x28, 0xb5]).unwrap(),
            Compression::None
        );
        let xz = Compression::detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]).unwrap_err();
        assert!(
            xz.to_string()
                .contains("xz-compressed layers are not supported"),
            "{xz}"
        );
        assert!(Compression::detect(b"BZh91AY").is_err());
    }

    #[test]
    fn gzip_members_are_read_one_after_the_other() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(decode(Compression::Gzip, &two).unwrap(), b"hello world");
    }

    #[test]
    fn corrupt_gzip_is_an_error_naming_gzip() {
        let mut bytes = gzip(&[7u8; 10_000]);
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        let err = decode(Compression::Gzip, &bytes).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("corrupt gzip stream in layer: "),
            "{err}"
        );

        let whole = gzip(&[7u8; 10_000]);
        let err = decode(Compression::Gzip, &whole[..whole.len() - 3]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("corrupt gzip stream in layer: "),
            "{err}"
        );
    }

    #[test]
    fn zstd_frames_are_read_one_after_the_other() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let mut two = compress_to_vec(&b"hello "[..], CompressionLevel::Fastest);
        // A skippable frame between the two: magic 0x184D2A50, length 3.
        two.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        two.extend(compress_to_vec(&b"world"[..], CompressionLevel::Fastest));
        assert_eq!(Compression::detect(&two).unwrap(), Compression::Zstd);
        assert_eq!(decode(Compression::Zstd, &two).unwrap(), b"hello world");
    }

    #[test]
    fn corrupt_zstd_is_an_error_naming_zstd() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let whole = compress_to_vec(&data[..], CompressionLevel::Fastest);
        let err = decode(Compression::Zstd, &whole[..whole.len() / 2]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("corrupt zstd stream in layer: "),
            "{err}"
        );
    }
}
