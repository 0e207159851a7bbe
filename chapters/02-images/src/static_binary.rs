//! The workshop's static binaries (`hello`, later `minidocker-init`): where
//! scripts/build.sh puts them, and the check that they really are static.
//!
//! A binary copied into an image that holds no libc must carry its libc
//! inside. A dynamic executable names an ELF interpreter (PT_INTERP, e.g.
//! /lib64/ld-linux-x86-64.so.2) that the kernel loads first; in an empty root
//! filesystem that file is missing and execve fails with ENOENT — "no such
//! file or directory" about a file that is plainly there. So we read the ELF
//! program headers ourselves and refuse such a binary before it goes into an
//! image.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Overrides where [`find`] looks, e.g. for a tree built elsewhere.
pub const STATIC_DIR_VARIABLE: &str = "MINIDOCKER_STATIC_DIR";

/// The static binary `name`, from [`static_dir`], checked to be a static ELF
/// executable.
pub fn find(name: &str) -> anyhow::Result<PathBuf> {
    find_in(&static_dir()?, name)
}

/// Where scripts/build.sh leaves the static binaries: `$MINIDOCKER_STATIC_DIR`
/// if set, else `<target dir>/static/`, found from the running executable
/// (`target/release/ch02` → `target/static/`).
pub fn static_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(STATIC_DIR_VARIABLE).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let executable =
        std::env::current_exe().context("cannot find the running executable's path")?;
    let mut profile_dir = executable
        .parent()
        .with_context(|| format!("{} has no parent directory", executable.display()))?;
    // Cargo puts test executables one level deeper, in target/<profile>/deps/.
    if profile_dir.file_name().is_some_and(|name| name == "deps") {
        profile_dir = profile_dir.parent().unwrap_or(profile_dir);
    }
    let target_dir = profile_dir
        .parent()
        .with_context(|| format!("{} has no parent directory", profile_dir.display()))?;
    Ok(target_dir.join("static"))
}

/// The static binary `name` in `dir`, checked to be a static ELF executable.
pub fn find_in(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    match path.metadata() {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => bail!("{} is not a regular file", path.display()),
        Err(error) if error.kind() == ErrorKind::NotFound => bail!(
            "no static {name} binary in {}: build it with scripts/build.sh (or set {STATIC_DIR_VARIABLE})",
            dir.display()
        ),
        Err(error) => return Err(error).with_context(|| format!("cannot stat {}", path.display())),
    }
    match linking(&path)? {
        Linking::Static => Ok(path),
        Linking::Interpreter => bail!(
            "{} is dynamically linked (it has an ELF interpreter); build the static binaries with scripts/build.sh",
            path.display()
        ),
        Linking::NeededLibraries => bail!(
            "{} needs shared libraries (DT_NEEDED) but has no ELF interpreter: it is a shared library, \
             not a static executable; build the static binaries with scripts/build.sh",
            path.display()
        ),
    }
}

/// Whether `path` is an ELF executable that runs with nothing else in its
/// root filesystem: no ELF interpreter and no shared libraries needed. Both
/// classic static and static-pie executables qualify. A file that is not an
/// ELF executable, or is cut short, is an error.
pub fn is_static_elf(path: &Path) -> anyhow::Result<bool> {
    Ok(linking(path)? == Linking::Static)
}

#[derive(Debug, PartialEq, Eq)]
enum Linking {
    /// Everything is inside: `statically linked` or `static-pie linked`.
    Static,
    /// A PT_INTERP program header names the loader the kernel runs first.
    Interpreter,
    /// No loader, yet DT_NEEDED entries: a shared library.
    NeededLibraries,
}

// ELF constants, from elf(5) and <elf.h>.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PN_XNUM: u16 = 0xffff;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
/// A real dynamic section holds a few dozen entries; anything this large is
/// a corrupt header, not something to allocate for.
const MAX_DYNAMIC_SECTION: u64 = 1 << 20;

// ANCHOR: linking
fn linking(path: &Path) -> anyhow::Result<Linking> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let elf = ElfFile { path, file };

    // e_ident: magic, then class (32/64-bit) and data (byte order) bytes.
    let ident = elf.read(0, 16, "ELF identification")?;
    if &ident[..4] != ELF_MAGIC {
        bail!(
            "{} is not an ELF file (it does not start with \\x7fELF)",
            path.display()
        );
    }
    let layout = match (ident[4], ident[5]) {
        (class @ (ELFCLASS32 | ELFCLASS64), data @ (ELFDATA2LSB | ELFDATA2MSB)) => Layout {
            is_64: class == ELFCLASS64,
            big_endian: data == ELFDATA2MSB,
        },
        (class, data) => bail!(
            "{}: unknown ELF class {class} or byte order {data} (expected 1 or 2 for each)",
            path.display()
        ),
    };

    // The rest of the ELF header: 52 bytes for 32-bit files, 64 for 64-bit.
    let header = elf.read(0, if layout.is_64 { 64 } else { 52 }, "ELF header")?;
    let file_type = layout.u16(&header[16..]);
    if file_type != ET_EXEC && file_type != ET_DYN {
        bail!(
            "{} is not an executable (ELF type {file_type}; expected 2, ET_EXEC, or 3, ET_DYN)",
            path.display()
        );
    }
    let (table_offset, entry_size, entry_count) = if layout.is_64 {
        (
            layout.u64(&header[32..]),
            layout.u16(&header[54..]),
            layout.u16(&header[56..]),
        )
    } else {
        (
            u64::from(layout.u32(&header[28..])),
            layout.u16(&header[42..]),
            layout.u16(&header[44..]),
        )
    };
    if entry_count == PN_XNUM {
        bail!(
            "{}: more than 65534 program headers (PN_XNUM) is not supported",
            path.display()
        );
    }
    let expected_size = if layout.is_64 { 56 } else { 32 };
    if entry_count > 0 && usize::from(entry_size) != expected_size {
        bail!(
            "{}: program header entries of {entry_size} bytes (expected {expected_size}): \
             corrupt ELF header",
            path.display()
        );
    }
    let table = elf.read(
        table_offset,
        expected_size * usize::from(entry_count),
        "program header table",
    )?;

    // The kernel loads the PT_INTERP program first and hands it the
    // executable: that program header alone makes a binary dynamic.
    let mut dynamic_section = None;
    for entry in table.chunks_exact(expected_size) {
        match layout.u32(entry) {
            PT_INTERP => return Ok(Linking::Interpreter),
            // static-pie binaries have a PT_DYNAMIC too (they relocate
            // themselves), so its presence alone proves nothing.
            PT_DYNAMIC if layout.is_64 => {
                dynamic_section = Some((layout.u64(&entry[8..]), layout.u64(&entry[32..])))
            }
            PT_DYNAMIC => {
                dynamic_section = Some((
                    u64::from(layout.u32(&entry[4..])),
                    u64::from(layout.u32(&entry[16..])),
                ))
            }
            _ => {}
        }
    }
    let Some((offset, size)) = dynamic_section else {
        return Ok(Linking::Static);
    };
    if size > MAX_DYNAMIC_SECTION {
        bail!(
            "{}: a dynamic section of {size} bytes: corrupt program header",
            path.display()
        );
    }
    // Dynamic entries are (tag, value) pairs of words, ended by DT_NULL.
    let section = elf.read(offset, size as usize, "dynamic section")?;
    let word = if layout.is_64 { 8 } else { 4 };
    for entry in section.chunks_exact(2 * word) {
        match layout.word(entry) {
            DT_NULL => break,
            DT_NEEDED => return Ok(Linking::NeededLibraries),
            _ => {}
        }
    }
    Ok(Linking::Static)
}
// ANCHOR_END: linking

struct ElfFile<'a> {
    path: &'a Path,
    file: File,
}

impl ElfFile<'_> {
    /// Exactly `length` bytes at `offset`; a short file is an error naming
    /// the part that is missing, never a panic on a slice.
    fn read(&self, offset: u64, length: usize, what: &str) -> anyhow::Result<Vec<u8>> {
        let mut bytes = vec![0; length];
        match self.file.read_exact_at(&mut bytes, offset) {
            Ok(()) => Ok(bytes),
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => bail!(
                "{} is truncated or corrupt: its {what} ({length} bytes at offset {offset}) \
                 runs past the end of the file",
                self.path.display()
            ),
            Err(error) => Err(error)
                .with_context(|| format!("cannot read the {what} of {}", self.path.display())),
        }
    }
}

/// Word size and byte order, from e_ident. Callers pass slices at least as
/// long as the field they read (the lengths were checked when reading).
#[derive(Clone, Copy)]
struct Layout {
    is_64: bool,
    big_endian: bool,
}

impl Layout {
    fn u16(self, bytes: &[u8]) -> u16 {
        let field = [bytes[0], bytes[1]];
        if self.big_endian {
            u16::from_be_bytes(field)
        } else {
            u16::from_le_bytes(field)
        }
    }

    fn u32(self, bytes: &[u8]) -> u32 {
        let field = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if self.big_endian {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        }
    }

    fn u64(self, bytes: &[u8]) -> u64 {
        let mut field = [0; 8];
        field.copy_from_slice(&bytes[..8]);
        if self.big_endian {
            u64::from_be_bytes(field)
        } else {
            u64::from_le_bytes(field)
        }
    }

    /// A native word: 4 bytes in a 32-bit file, 8 in a 64-bit one.
    fn word(self, bytes: &[u8]) -> u64 {
        if self.is_64 {
            self.u64(bytes)
        } else {
            u64::from(self.u32(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF file: header plus program headers of the given types
    /// (a PT_DYNAMIC one pointing at `dynamic_tags`, each with value 0).
    fn synthetic_elf(
        is_64: bool,
        big_endian: bool,
        segment_types: &[u32],
        dynamic_tags: &[u64],
    ) -> Vec<u8> {
        let put = |bytes: &mut Vec<u8>, value: u64, width: usize| {
            let be = value.to_be_bytes();
            let le = value.to_le_bytes();
            if big_endian {
                bytes.extend_from_slice(&be[8 - width..]);
            } else {
                bytes.extend_from_slice(&le[..width]);
            }
        };
        let word = if is_64 { 8 } else { 4 };
        let (header_size, entry_size) = if is_64 { (64, 56) } else { (52, 32) };
        let dynamic_offset = header_size + entry_size * segment_types.len();
        let dynamic_size = dynamic_tags.len() * 2 * word;

        let mut elf = b"\x7fELF".to_vec();
        elf.extend_from_slice(&[if is_64 { 2 } else { 1 }, if big_endian { 2 } else { 1 }, 1]);
        elf.resize(16, 0);
        put(&mut elf, u64::from(ET_DYN), 2); // e_type
        put(&mut elf, 62, 2); // e_machine
        put(&mut elf, 1, 4); // e_version
        put(&mut elf, 0, word); // e_entry
        put(&mut elf, header_size as u64, word); // e_phoff
        put(&mut elf, 0, word); // e_shoff
        put(&mut elf, 0, 4); // e_flags
        put(&mut elf, header_size as u64, 2); // e_ehsize
        put(&mut elf, entry_size as u64, 2); // e_phentsize
        put(&mut elf, segment_types.len() as u64, 2); // e_phnum
        put(&mut elf, 0, 6); // e_shentsize, e_shnum, e_shstrndx
        assert_eq!(elf.len(), header_size);
        for &segment_type in segment_types {
            let start = elf.len();
            put(&mut elf, u64::from(segment_type), 4);
            if is_64 {
                put(&mut elf, 0, 4); // p_flags
            }
            put(&mut elf, dynamic_offset as u64, word); // p_offset
            put(&mut elf, 0, word); // p_vaddr
            put(&mut elf, 0, word); // p_paddr
            put(&mut elf, dynamic_size as u64, word); // p_filesz
            elf.resize(start + entry_size, 0);
        }
        for &tag in dynamic_tags {
            put(&mut elf, tag, word);
            put(&mut elf, 0, word);
        }
        elf
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("create a temporary file");
        std::fs::write(file.path(), bytes).expect("write the temporary file");
        file
    }

    #[test]
    fn debian_busybox_static_is_static() {
        // Debian's busybox-static: "ELF 64-bit LSB executable, statically linked".
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: apt-get install busybox-static"
        );
        assert!(is_static_elf(busybox).unwrap());
    }

    #[test]
    fn ls_is_dynamic() {
        assert!(!is_static_elf(Path::new("/bin/ls")).unwrap());
    }

    #[test]
    fn a_text_file_is_not_elf() {
        let file = write_temp(b"#!/bin/sh\necho hello\n");
        let error = is_static_elf(file.path()).unwrap_err().to_string();
        assert!(error.contains("is not an ELF file"), "{error}");
    }

    #[test]
    fn truncated_elf_files_are_errors() {
        let ls = std::fs::read("/bin/ls").unwrap();
        // Cut inside e_ident, inside the header, and inside the program headers.
        for length in [0, 4, 10, 40, 100] {
            let file = write_temp(&ls[..length]);
            let error = is_static_elf(file.path()).unwrap_err().to_string();
            assert!(
                error.contains("is truncated or corrupt"),
                "{length} bytes: {error}"
            );
        }
    }

    #[test]
    fn every_class_and_byte_order_is_read() {
        for is_64 in [false, true] {
            for big_endian in [false, true] {
                let case = format!("64-bit: {is_64}, big-endian: {big_endian}");
                let file = write_temp(&synthetic_elf(is_64, big_endian, &[1], &[]));
                assert_eq!(linking(file.path()).unwrap(), Linking::Static, "{case}");
                let file = write_temp(&synthetic_elf(is_64, big_endian, &[1, PT_INTERP], &[]));
                assert_eq!(
                    linking(file.path()).unwrap(),
                    Linking::Interpreter,
                    "{case}"
                );
                let file = write_temp(&synthetic_elf(
                    is_64,
                    big_endian,
                    &[PT_DYNAMIC],
                    &[5, DT_NULL],
                ));
                assert_eq!(linking(file.path()).unwrap(), Linking::Static, "{case}");
                let file = write_temp(&synthetic_elf(
                    is_64,
                    big_endian,
                    &[PT_DYNAMIC],
                    &[5, DT_NEEDED, DT_NULL],
                ));
                assert_eq!(
                    linking(file.path()).unwrap(),
                    Linking::NeededLibraries,
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn a_dynamic_section_past_the_end_is_an_error() {
        let mut elf = synthetic_elf(true, false, &[PT_DYNAMIC], &[5, DT_NEEDED, DT_NULL]);
        elf.truncate(elf.len() - 8);
        let file = write_temp(&elf);
        let error = is_static_elf(file.path()).unwrap_err().to_string();
        assert!(
            error.contains("truncated or corrupt: its dynamic section"),
            "{error}"
        );
    }

    #[test]
    fn find_in_names_what_is_missing_and_what_is_dynamic() {
        let dir = tempfile::tempdir().unwrap();
        let error = find_in(dir.path(), "hello").unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "no static hello binary in {}: build it with scripts/build.sh (or set MINIDOCKER_STATIC_DIR)",
                dir.path().display()
            )
        );

        std::fs::copy("/bin/ls", dir.path().join("hello")).unwrap();
        let error = find_in(dir.path(), "hello").unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{} is dynamically linked (it has an ELF interpreter); build the static binaries with scripts/build.sh",
                dir.path().join("hello").display()
            )
        );

        std::fs::copy("/bin/busybox", dir.path().join("busybox")).unwrap();
        assert_eq!(
            find_in(dir.path(), "busybox").unwrap(),
            dir.path().join("busybox")
        );
    }
}
