//! Unpacks one layer file into a directory, as the store does:
//! `cargo run --release --example unpack -- LAYER DIR`. Used by
//! scripts/bench-unpack.sh to time `layer::unpack` against `tar -xzf`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use images::layer::{self, UnpackOptions};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unpack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(layer), Some(target), None) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: unpack LAYER DIR");
    };
    let (layer, target) = (PathBuf::from(layer), PathBuf::from(target));
    let file = File::open(&layer).with_context(|| format!("opening {}", layer.display()))?;
    // A large buffer: the decompressor asks for small reads.
    let input = BufReader::with_capacity(1 << 20, file);
    let unpacked = layer::unpack(input, &target, &UnpackOptions::for_current_user())
        .with_context(|| format!("unpacking {} into {}", layer.display(), target.display()))?;
    println!("compression   {}", unpacked.compression);
    println!(
        "digest        {} ({} bytes)",
        unpacked.digest, unpacked.compressed_size
    );
    println!(
        "diff_id       {} ({} bytes)",
        unpacked.diff_id, unpacked.uncompressed_size
    );
    if unpacked.skipped_devices > 0 {
        println!(
            "skipped       {} device nodes (not root)",
            unpacked.skipped_devices
        );
    }
    for xattr in &unpacked.skipped_xattrs {
        println!("skipped xattr {xattr}");
    }
    Ok(())
}
