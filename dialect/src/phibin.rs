//! The `.phibin` container: a compiled program as an ELF file.
//!
//! A `.phibin` is an ELF64 little-endian file of type `ET_REL` for machine `EM_NONE` (0, "no
//! machine": the accelerator is not a CPU that ELF knows, and nothing here is loaded by an OS).
//! It has no program headers, no symbols and no relocations: only non-allocated `SHT_PROGBITS`
//! sections, so that `readelf -S model.phibin` lists the parts and `readelf -p .phi.meta` prints
//! the metadata:
//!
//! | section | contents |
//! |---|---|
//! | `.phi.check` | magic `PHIBIN\0\0`, format version (u32 LE), reserved u32 (0), SHA-256 (32 bytes) |
//! | `.phi.meta` | the [`ProgramMeta`] as UTF-8 JSON |
//! | `.phi.code` | the instructions, 16 bytes each (encoded by [`crate::isa::encode`]) |
//! | one per constant region | named as in `meta.regions` (`.phi.weights`, `.phi.pwp`, …), its bytes |
//! | `.phi.sample` | optional: a default input, `.npy` bytes |
//! | `.shstrtab` | the section names (ELF's own) |
//!
//! The checksum is SHA-256 over the first 16 bytes of `.phi.check` (magic, version, reserved),
//! then, for every other section whose name starts with `.phi.`, in increasing byte order of
//! name: the name's length (u64 LE), the name, the contents' length (u64 LE), the contents. It
//! covers every byte a reader interprets outside the ELF header and section headers; those are
//! checked structurally (magic, class, endianness, type, machine, the section table, each
//! `.phi.*` section's type and flags, every offset and size against the file length). Not
//! covered, and not read, so that changing them leaves the program [`read`] returns the same:
//! the padding between sections, the `.shstrtab` bytes that are no `.phi.*` name, the ELF header
//! fields `EI_OSABI`, `EI_ABIVERSION`, `EI_PAD`, `e_version`, `e_entry`, `e_phoff`, `e_flags`,
//! `e_ehsize`, `e_phentsize`, `e_phnum`, the section header fields `sh_addr`, `sh_link`,
//! `sh_info`, `sh_addralign`, `sh_entsize`, and sections whose names do not start with `.phi.`
//! (which a tool may add). `docs/phibin.md` specifies the format, the check section byte by
//! byte, and the versioning policy.
//!
//! The code is opaque here: [`write()`] takes and [`read`] returns it as bytes (a multiple of 16),
//! and decoding is the caller's. [`write_sections`] and [`read_sections`] are the lower layer
//! (any set of `.phi.*` sections with a valid `.phi.check`), for tools and tests.
//!
//! Reading never panics, and never allocates an amount taken from the file before checking it
//! against the file's length: every section is a bounds-checked slice of the input, the JSON is
//! parsed from that slice, and copies are made only after all checks pass.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader as _, SectionHeader as _};
use object::{Endianness, LittleEndian};
use sha2::{Digest, Sha256};

use crate::program::{FORMAT_VERSION, ProgramMeta};

/// The magic bytes at the start of `.phi.check`.
pub const MAGIC: [u8; 8] = *b"PHIBIN\0\0";

/// The format versions this build reads (it writes [`FORMAT_VERSION`]).
pub const SUPPORTED_VERSIONS: &[u32] = &[FORMAT_VERSION];

/// Bytes per instruction in `.phi.code`.
pub const INSTRUCTION_BYTES: usize = 16;

/// Every section of the format has a name with this prefix.
pub const SECTION_PREFIX: &str = ".phi.";

/// The check section: magic, version, reserved, checksum.
pub const CHECK_SECTION: &str = ".phi.check";

/// The metadata section (JSON).
pub const META_SECTION: &str = ".phi.meta";

/// The code section (16-byte instructions).
pub const CODE_SECTION: &str = ".phi.code";

/// The optional default-input section (`.npy` bytes).
pub const SAMPLE_SECTION: &str = ".phi.sample";

/// The constant region of the weights, biases and input index tables, as the backend names it
/// (a region of `meta.regions`, not a section the format reserves).
pub const WEIGHTS_SECTION: &str = ".phi.weights";

/// The constant region of the Level-1 PWP tables, as the backend names it (a region of
/// `meta.regions`).
pub const PWP_SECTION: &str = ".phi.pwp";

/// The constant region of the patterns, as the backend names it (a region of `meta.regions`).
pub const PATTERNS_SECTION: &str = ".phi.patterns";

/// Size of `.phi.check` in format version 1.
pub const CHECK_BYTES: usize = 48;

/// Size of the checksum (SHA-256).
pub const CHECKSUM_BYTES: usize = 32;

/// Bytes of `.phi.check` that are the same in every format version: magic and version.
const CHECK_FIXED: usize = 12;

/// Bytes of `.phi.check` before the checksum (magic, version, reserved); they are hashed too.
pub const CHECK_HEAD_BYTES: usize = 16;

/// Size of an ELF64 file header.
const ELF_HEADER_BYTES: u64 = 64;

/// Offsets in `e_ident`: the class, the data encoding, the identification version.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;

/// Size of an ELF64 section header.
const SECTION_HEADER_BYTES: u64 = 64;

/// A `.phibin` read back: the program's parts, the code still encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Phibin {
    /// The metadata.
    pub meta: ProgramMeta,
    /// The encoded instructions, [`INSTRUCTION_BYTES`] each.
    pub code: Vec<u8>,
    /// The constant sections, in `meta.regions` order.
    pub sections: Vec<(String, Vec<u8>)>,
    /// The default input (`.npy` bytes), if the file has one.
    pub sample: Option<Vec<u8>>,
}

impl Phibin {
    /// The encoded instructions, one 16-byte array each.
    pub fn instructions(&self) -> &[[u8; INSTRUCTION_BYTES]] {
        self.code.as_chunks::<INSTRUCTION_BYTES>().0
    }

    /// Writes this program back (see [`write()`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, PhibinError> {
        write(&self.meta, &self.code, &self.sections, self.sample.as_deref())
    }
}

/// The checked `.phi.*` sections of a file, before their contents are interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPhibin<'a> {
    /// The format version of `.phi.check` (one of [`SUPPORTED_VERSIONS`]).
    pub version: u32,
    /// The checksum, as stored and verified.
    pub checksum: [u8; CHECKSUM_BYTES],
    /// Every `.phi.*` section but `.phi.check`, sorted by name (names are unique).
    pub sections: Vec<(&'a str, &'a [u8])>,
}

impl<'a> RawPhibin<'a> {
    /// The contents of the section `name`, if there is one.
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        self.sections.binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes())).ok().map(|i| self.sections[i].1)
    }
}

/// Why a `.phibin` could not be read or written, and which file.
#[derive(Debug)]
pub struct PhibinError {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

impl PhibinError {
    fn new(kind: ErrorKind) -> Self {
        PhibinError { path: None, kind }
    }

    fn malformed(message: impl Into<String>) -> Self {
        PhibinError::new(ErrorKind::Malformed { message: message.into() })
    }

    fn not_phibin(reason: impl Into<String>) -> Self {
        PhibinError::new(ErrorKind::NotPhibin { reason: reason.into() })
    }

    fn invalid_input(message: impl Into<String>) -> Self {
        PhibinError::new(ErrorKind::InvalidInput { message: message.into() })
    }

    fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file, for errors of [`read_file`] and [`write_file`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for PhibinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: {}", path.display(), self.kind),
            None => self.kind.fmt(f),
        }
    }
}

impl std::error::Error for PhibinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            ErrorKind::NotElf
            | ErrorKind::WrongClass { .. }
            | ErrorKind::WrongEndianness { .. }
            | ErrorKind::NotPhibin { .. }
            | ErrorKind::UnsupportedVersion { .. }
            | ErrorKind::ChecksumMismatch { .. }
            | ErrorKind::MissingSection { .. }
            | ErrorKind::CodeLength { .. }
            | ErrorKind::InvalidMeta { .. }
            | ErrorKind::VersionMismatch { .. }
            | ErrorKind::MissingRegion { .. }
            | ErrorKind::RegionSize { .. }
            | ErrorKind::OutOfBounds { .. }
            | ErrorKind::Malformed { .. }
            | ErrorKind::InvalidInput { .. } => None,
        }
    }
}

/// The kinds of [`PhibinError`].
#[derive(Debug)]
pub enum ErrorKind {
    /// The file could not be read or written.
    Io {
        /// `"read"` or `"write"`.
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The bytes do not start with the ELF magic number.
    NotElf,
    /// An ELF file of another class than ELF64.
    WrongClass {
        /// `e_ident[EI_CLASS]`.
        class: u8,
    },
    /// An ELF file that is not little-endian.
    WrongEndianness {
        /// `e_ident[EI_DATA]`.
        data: u8,
    },
    /// An ELF file that is not a `.phibin` (another type or machine, no `.phi.check`, bad magic).
    NotPhibin {
        /// Why.
        reason: String,
    },
    /// A `.phibin` of a format version this build does not read.
    UnsupportedVersion {
        /// The version in `.phi.check`.
        found: u32,
        /// The versions this build reads.
        supported: &'static [u32],
    },
    /// The checksum in `.phi.check` does not match the sections.
    ChecksumMismatch {
        /// The checksum stored in the file.
        expected: [u8; CHECKSUM_BYTES],
        /// The checksum of the sections as they are.
        found: [u8; CHECKSUM_BYTES],
    },
    /// A required section (`.phi.meta`, `.phi.code`) is missing.
    MissingSection {
        /// Its name.
        name: &'static str,
    },
    /// `.phi.code` is not a whole number of instructions.
    CodeLength {
        /// Its size in bytes.
        bytes: u64,
    },
    /// `.phi.meta` is not valid metadata.
    InvalidMeta {
        /// serde's message (with line and column), or what else is wrong.
        message: String,
    },
    /// `meta.format_version` differs from the version in `.phi.check`.
    VersionMismatch {
        /// `meta.format_version`.
        meta: u32,
        /// The version in `.phi.check`.
        check: u32,
    },
    /// A region of `meta.regions` has no section.
    MissingRegion {
        /// The region's section name.
        name: String,
    },
    /// A region's section is not as large as `meta.regions` says.
    RegionSize {
        /// The region's section name.
        name: String,
        /// The size in `meta.regions`.
        meta: u64,
        /// The size of the section.
        section: u64,
    },
    /// An offset or size field points outside the file.
    OutOfBounds {
        /// The structure (`the section header table`, ``section `.phi.code` ``, …).
        what: String,
        /// Its file offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// The length of the file.
        file_len: u64,
    },
    /// Any other inconsistency in the ELF structure or the `.phi.*` sections.
    Malformed {
        /// What is wrong.
        message: String,
    },
    /// [`write()`] was given parts that do not make a valid `.phibin`.
    InvalidInput {
        /// What is wrong.
        message: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn versions_list(versions: &[u32]) -> String {
    versions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io { action, source } => write!(f, "cannot {action} the file: {source}"),
            ErrorKind::NotElf => {
                write!(f, "not a .phibin file: it does not start with the ELF magic number 7f 45 4c 46 (\"\\x7fELF\")")
            }
            ErrorKind::WrongClass { class } => {
                let what = match class {
                    1 => "a 32-bit ELF file (ELFCLASS32)".to_string(),
                    other => format!("an ELF file of invalid class {other}"),
                };
                write!(f, "not a .phibin file: {what}; a .phibin is a 64-bit ELF file (ELFCLASS64)")
            }
            ErrorKind::WrongEndianness { data } => {
                let what = match data {
                    2 => "a big-endian ELF file (ELFDATA2MSB)".to_string(),
                    other => format!("an ELF file of invalid data encoding {other}"),
                };
                write!(f, "not a .phibin file: {what}; a .phibin is little-endian (ELFDATA2LSB)")
            }
            ErrorKind::NotPhibin { reason } => write!(f, "not a .phibin file: {reason}"),
            ErrorKind::UnsupportedVersion { found, supported } => {
                let newer = supported.iter().all(|v| found > v);
                write!(
                    f,
                    "unsupported .phibin format version {found}: this build of the Phi toolchain reads version{} {} ({})",
                    if supported.len() == 1 { "" } else { "s" },
                    versions_list(supported),
                    if newer {
                        "the file was written by a newer toolchain; update this one"
                    } else {
                        "recompile the model with this toolchain's phic"
                    }
                )
            }
            ErrorKind::ChecksumMismatch { expected, found } => write!(
                f,
                "checksum mismatch (the file is corrupted or was edited): expected SHA-256 {}, found {}",
                hex(expected),
                hex(found)
            ),
            ErrorKind::MissingSection { name } => {
                write!(f, "the file has no `{name}` section, which every .phibin has")
            }
            ErrorKind::CodeLength { bytes } => write!(
                f,
                "section `{CODE_SECTION}` is {bytes} bytes, not a whole number of {INSTRUCTION_BYTES}-byte instructions"
            ),
            ErrorKind::InvalidMeta { message } => {
                write!(f, "section `{META_SECTION}` is not valid program metadata: {message}")
            }
            ErrorKind::VersionMismatch { meta, check } => write!(
                f,
                "the metadata in `{META_SECTION}` says format version {meta}, but `{CHECK_SECTION}` says {check}"
            ),
            ErrorKind::MissingRegion { name } => {
                write!(f, "the metadata names the constant region `{name}`, but the file has no section of that name")
            }
            ErrorKind::RegionSize { name, meta, section } => write!(
                f,
                "constant region `{name}`: the metadata says {meta} bytes, but its section holds {section} bytes"
            ),
            ErrorKind::OutOfBounds { what, offset, size, file_len } => match offset.checked_add(*size) {
                Some(end) => write!(
                    f,
                    "{what} (bytes {offset}..{end}) runs past the end of the file ({file_len} bytes): \
                     the file is truncated or corrupted"
                ),
                None => write!(
                    f,
                    "{what} has offset {offset} and size {size}, which lie beyond any file ({file_len} bytes here): \
                     the file is corrupted"
                ),
            },
            ErrorKind::Malformed { message } => write!(f, "malformed .phibin: {message}"),
            ErrorKind::InvalidInput { message } => write!(f, "cannot write a .phibin: {message}"),
        }
    }
}

/// Checks the name of a section that [`write_sections`] writes or that a region names: the
/// prefix `.phi.`, then one or more ASCII letters, digits, `.`, `_` or `-`.
pub fn check_section_name(name: &str) -> Result<(), String> {
    let Some(rest) = name.strip_prefix(SECTION_PREFIX) else {
        return Err(format!("section name `{name}` does not start with `{SECTION_PREFIX}`"));
    };
    if rest.is_empty() {
        return Err(format!("section name `{name}` is only the prefix"));
    }
    if let Some(c) = rest.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("section name {name:?} holds {c:?}; names use ASCII letters, digits, `.`, `_` and `-`"));
    }
    Ok(())
}

/// The SHA-256 of `.phi.check`'s first 16 bytes and `sections` (sorted by name, as
/// [`RawPhibin::sections`]): for each, the name's length (u64 LE), the name, the contents'
/// length (u64 LE) and the contents.
pub fn checksum(check_head: &[u8; CHECK_HEAD_BYTES], sections: &[(&str, &[u8])]) -> [u8; CHECKSUM_BYTES] {
    let mut hasher = Sha256::new();
    hasher.update(check_head);
    for (name, data) in sections {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(data);
    }
    hasher.finalize().into()
}

fn check_head(version: u32) -> [u8; CHECK_HEAD_BYTES] {
    let mut head = [0u8; CHECK_HEAD_BYTES];
    head[..8].copy_from_slice(&MAGIC);
    head[8..12].copy_from_slice(&version.to_le_bytes());
    // Bytes 12..16 are reserved (zero).
    head
}

/// File alignment of a section's contents.
fn section_align(name: &str) -> u64 {
    if name == CHECK_SECTION || name == META_SECTION { 8 } else { 16 }
}

/// Writes a `.phibin` holding the given `.phi.*` sections (in this order, after `.phi.check`)
/// and a `.phi.check` for `version`.
///
/// This is the container layer: it checks only the names (see [`check_section_name`]; unique;
/// not `.phi.check`), not the contents. [`write()`] checks a program's parts and calls it.
pub fn write_sections(version: u32, sections: &[(&str, &[u8])]) -> Result<Vec<u8>, PhibinError> {
    for (i, (name, _)) in sections.iter().enumerate() {
        check_section_name(name).map_err(PhibinError::invalid_input)?;
        if *name == CHECK_SECTION {
            return Err(PhibinError::invalid_input(format!("`{CHECK_SECTION}` is written by the container itself")));
        }
        if sections[..i].iter().any(|(other, _)| other == name) {
            return Err(PhibinError::invalid_input(format!("two sections are named `{name}`")));
        }
    }
    let mut sorted: Vec<(&str, &[u8])> = sections.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let head = check_head(version);
    let mut check = Vec::with_capacity(CHECK_BYTES);
    check.extend_from_slice(&head);
    check.extend_from_slice(&checksum(&head, &sorted));

    let mut all: Vec<(&str, &[u8])> = Vec::with_capacity(sections.len() + 1);
    all.push((CHECK_SECTION, &check));
    all.extend_from_slice(sections);

    let mut out = Vec::new();
    let mut w = object::write::elf::Writer::new(Endianness::Little, true, &mut out);
    // Phase 1: names, indices and file ranges.
    w.reserve_file_header();
    let names: Vec<_> = all.iter().map(|(name, _)| w.add_section_name(name.as_bytes())).collect();
    for _ in &all {
        w.reserve_section_index();
    }
    w.reserve_shstrtab_section_index();
    let offsets: Vec<u64> = all.iter().map(|(name, data)| w.reserve(data.len() as u64, section_align(name))).collect();
    w.reserve_shstrtab().map_err(|e| PhibinError::invalid_input(format!("ELF writer: {e}")))?;
    w.reserve_section_headers();
    // Phase 2: the bytes, in the same order.
    w.write_file_header(&object::write::elf::FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_REL,
        e_machine: elf::EM_NONE,
        e_entry: 0,
        e_flags: elf::FileFlags(0),
    })
    .map_err(|e| PhibinError::invalid_input(format!("ELF writer: {e}")))?;
    for (name, data) in &all {
        w.write_align(section_align(name));
        w.write(data);
    }
    w.write_shstrtab();
    w.write_null_section_header();
    for (((name, data), id), offset) in all.iter().zip(&names).zip(&offsets) {
        w.write_section_header(&object::write::elf::SectionHeader {
            sh_name: w.section_name_offset(Some(*id)),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: elf::SectionFlags(0),
            sh_addr: 0,
            sh_offset: *offset,
            sh_size: data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: section_align(name),
            sh_entsize: 0,
        });
    }
    w.write_shstrtab_section_header();
    Ok(out)
}

/// Writes a program as `.phibin` bytes.
///
/// `code` is the encoded instructions (a multiple of [`INSTRUCTION_BYTES`]); `sections` are the
/// constant regions, exactly those of `meta.regions` (any order; written in `meta.regions`
/// order) with the sizes it gives; `sample` is an optional default input (`.npy` bytes).
/// `meta.format_version` must be [`FORMAT_VERSION`], and the metadata must survive JSON (no
/// NaN or infinite numbers): the file always reads back as the same program.
pub fn write(
    meta: &ProgramMeta,
    code: &[u8],
    sections: &[(String, Vec<u8>)],
    sample: Option<&[u8]>,
) -> Result<Vec<u8>, PhibinError> {
    if meta.format_version != FORMAT_VERSION {
        return Err(PhibinError::invalid_input(format!(
            "meta.format_version is {}, but this build writes format version {FORMAT_VERSION}",
            meta.format_version
        )));
    }
    if !code.len().is_multiple_of(INSTRUCTION_BYTES) {
        return Err(PhibinError::new(ErrorKind::CodeLength { bytes: code.len() as u64 }));
    }
    check_regions(meta).map_err(PhibinError::invalid_input)?;
    for (name, _) in sections {
        if !meta.regions.iter().any(|r| r.section == *name) {
            return Err(PhibinError::invalid_input(format!(
                "section `{name}` is not a constant region of the metadata (`meta.regions`)"
            )));
        }
    }
    let mut parts: Vec<(&str, &[u8])> = Vec::with_capacity(meta.regions.len() + 3);
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| PhibinError::invalid_input(format!("cannot serialise the metadata: {e}")))?;
    match serde_json::from_slice::<ProgramMeta>(&json) {
        Ok(back) if back == *meta => {}
        Ok(_) | Err(_) => {
            return Err(PhibinError::invalid_input(
                "the metadata does not read back the same from JSON (a NaN or infinite number?)",
            ));
        }
    }
    parts.push((META_SECTION, &json));
    parts.push((CODE_SECTION, code));
    for region in &meta.regions {
        let mut found = sections.iter().filter(|(name, _)| *name == region.section);
        let Some((_, data)) = found.next() else {
            return Err(PhibinError::new(ErrorKind::MissingRegion { name: region.section.clone() }));
        };
        if found.next().is_some() {
            return Err(PhibinError::invalid_input(format!("two sections are named `{}`", region.section)));
        }
        if data.len() as u64 != u64::from(region.bytes) {
            return Err(PhibinError::new(ErrorKind::RegionSize {
                name: region.section.clone(),
                meta: u64::from(region.bytes),
                section: data.len() as u64,
            }));
        }
        parts.push((&region.section, data));
    }
    if let Some(sample) = sample {
        parts.push((SAMPLE_SECTION, sample));
    }
    write_sections(FORMAT_VERSION, &parts)
}

/// Writes a program to `path` (see [`write()`]) atomically: a temporary file in the same
/// directory, synced, then renamed over `path`. Readers see the old file or the whole new one.
pub fn write_file(
    path: impl AsRef<Path>,
    meta: &ProgramMeta,
    code: &[u8],
    sections: &[(String, Vec<u8>)],
    sample: Option<&[u8]>,
) -> Result<(), PhibinError> {
    let path = path.as_ref();
    let bytes = write(meta, code, sections, sample).map_err(|e| e.with_path(path))?;
    let io = |source| PhibinError::new(ErrorKind::Io { action: "write", source }).with_path(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) | None => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".phibin-").suffix(".tmp");
    // Temporary files are created 0600; ask for an ordinary file's 0666, less the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(&bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Checks the regions of `meta`: valid, unique names that are not the format's own sections.
fn check_regions(meta: &ProgramMeta) -> Result<(), String> {
    for (i, region) in meta.regions.iter().enumerate() {
        let name = &region.section;
        check_section_name(name).map_err(|e| format!("constant region {i}: {e}"))?;
        if [CHECK_SECTION, META_SECTION, CODE_SECTION, SAMPLE_SECTION].contains(&name.as_str()) {
            return Err(format!("constant region {i} is named `{name}`, a section the format reserves"));
        }
        if meta.regions[..i].iter().any(|r| r.section == *name) {
            return Err(format!("two constant regions are named `{name}`"));
        }
    }
    Ok(())
}

/// Checks that `size` bytes at `offset` lie inside a file of `len` bytes, and returns them.
fn slice_at(bytes: &[u8], what: impl Fn() -> String, offset: u64, size: u64) -> Result<&[u8], PhibinError> {
    let out_of_bounds =
        || PhibinError::new(ErrorKind::OutOfBounds { what: what(), offset, size, file_len: bytes.len() as u64 });
    let end = offset.checked_add(size).ok_or_else(out_of_bounds)?;
    let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(end)) else {
        return Err(out_of_bounds());
    };
    bytes.get(start..end).ok_or_else(out_of_bounds)
}

/// Reads the container layer of a `.phibin`: the ELF structure, `.phi.check`, the checksum.
///
/// Returns every `.phi.*` section but `.phi.check`, without interpreting them; sections whose
/// names do not start with `.phi.` (that a tool may have added) are ignored. [`read`] calls it.
pub fn read_sections(bytes: &[u8]) -> Result<RawPhibin<'_>, PhibinError> {
    // The identification bytes, checked one by one for a precise message.
    if bytes.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(PhibinError::new(ErrorKind::NotElf));
    }
    if let Some(&class) = bytes.get(EI_CLASS)
        && class != elf::ELFCLASS64.0
    {
        return Err(PhibinError::new(ErrorKind::WrongClass { class }));
    }
    if let Some(&data) = bytes.get(EI_DATA)
        && data != elf::ELFDATA2LSB.0
    {
        return Err(PhibinError::new(ErrorKind::WrongEndianness { data }));
    }
    slice_at(bytes, || "the ELF header".to_string(), 0, ELF_HEADER_BYTES)?;
    let ident_version = bytes.get(EI_VERSION).copied().unwrap_or(0);
    if ident_version != elf::EV_CURRENT.0 {
        return Err(PhibinError::malformed(format!("the ELF identification version is {ident_version}, not 1")));
    }
    let endian = LittleEndian;
    let header = elf::FileHeader64::<LittleEndian>::parse(bytes)
        .map_err(|e| PhibinError::malformed(format!("ELF header: {e}")))?;
    let e_type = header.e_type(endian);
    if e_type != elf::ET_REL {
        return Err(PhibinError::not_phibin(format!(
            "an ELF file of type {} (a .phibin has type ET_REL, 1)",
            e_type.0
        )));
    }
    let e_machine = header.e_machine(endian);
    if e_machine != elf::EM_NONE {
        return Err(PhibinError::not_phibin(format!(
            "an ELF file for machine {} (a .phibin is for no machine: EM_NONE, 0)",
            e_machine.0
        )));
    }

    // The section header table and the section name table.
    let shoff = header.e_shoff(endian);
    if shoff == 0 {
        return Err(PhibinError::not_phibin(format!(
            "it has no section header table, so no `{CHECK_SECTION}` section"
        )));
    }
    let shentsize = header.e_shentsize(endian);
    if u64::from(shentsize) != SECTION_HEADER_BYTES {
        return Err(PhibinError::malformed(format!(
            "section headers are {shentsize} bytes each; ELF64's are {SECTION_HEADER_BYTES}"
        )));
    }
    let table = || "the section header table".to_string();
    slice_at(bytes, table, shoff, SECTION_HEADER_BYTES)?;
    let shnum = header.shnum(endian, bytes).map_err(|e| PhibinError::malformed(format!("section count: {e}")))?;
    slice_at(bytes, table, shoff, u64::from(shnum) * SECTION_HEADER_BYTES)?;
    let shstrndx =
        header.shstrndx(endian, bytes).map_err(|e| PhibinError::malformed(format!("section name table index: {e}")))?;
    let shstrtab =
        header.section_headers(endian, bytes).ok().and_then(|headers| headers.get(shstrndx as usize)).ok_or_else(
            || PhibinError::malformed(format!("the section name table index {shstrndx} is not a section")),
        )?;
    if let Some((offset, size)) = shstrtab.file_range(endian) {
        slice_at(bytes, || "the section name table".to_string(), offset, size)?;
    }
    let table = header.sections(endian, bytes).map_err(|e| PhibinError::malformed(format!("section table: {e}")))?;

    // The `.phi.*` sections.
    let mut check: Option<&[u8]> = None;
    let mut sections: Vec<(&str, &[u8])> = Vec::new();
    for (index, section) in table.enumerate() {
        let name = table.section_name(endian, section).map_err(|_| {
            PhibinError::malformed(format!(
                "section {}: its name offset {} lies outside the section name table",
                index.0,
                section.sh_name(endian)
            ))
        })?;
        if !name.starts_with(SECTION_PREFIX.as_bytes()) {
            continue;
        }
        let name = std::str::from_utf8(name)
            .map_err(|_| PhibinError::malformed(format!("section {}: its name is not UTF-8", index.0)))?;
        let sh_type = section.sh_type(endian);
        if sh_type != elf::SHT_PROGBITS {
            return Err(PhibinError::malformed(format!(
                "section `{name}` has type {}; `{SECTION_PREFIX}*` sections are SHT_PROGBITS (1)",
                sh_type.0
            )));
        }
        let sh_flags = section.sh_flags(endian);
        if sh_flags.0 != 0 {
            return Err(PhibinError::malformed(format!(
                "section `{name}` has flags {:#x}; `{SECTION_PREFIX}*` sections have none",
                sh_flags.0
            )));
        }
        let data = slice_at(bytes, || format!("section `{name}`"), section.sh_offset(endian), section.sh_size(endian))?;
        if name == CHECK_SECTION {
            if check.is_some() {
                return Err(PhibinError::malformed(format!("two sections are named `{CHECK_SECTION}`")));
            }
            check = Some(data);
        } else {
            sections.push((name, data));
        }
    }

    // `.phi.check`: magic and version first (the same in every version), then the rest.
    let check = check.ok_or_else(|| PhibinError::not_phibin(format!("it has no `{CHECK_SECTION}` section")))?;
    let (Some(magic), Some(version)) = (check.get(..8), check.get(8..CHECK_FIXED)) else {
        return Err(PhibinError::not_phibin(format!(
            "its `{CHECK_SECTION}` section is {} bytes, too short for the magic number and format version",
            check.len()
        )));
    };
    if magic != MAGIC {
        return Err(PhibinError::not_phibin(format!(
            "its `{CHECK_SECTION}` section does not start with the magic bytes \"PHIBIN\\0\\0\""
        )));
    }
    let version = u32::from_le_bytes([version[0], version[1], version[2], version[3]]);
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(PhibinError::new(ErrorKind::UnsupportedVersion { found: version, supported: SUPPORTED_VERSIONS }));
    }
    if check.len() != CHECK_BYTES {
        return Err(PhibinError::malformed(format!(
            "section `{CHECK_SECTION}` is {} bytes; in format version {version} it is {CHECK_BYTES}",
            check.len()
        )));
    }
    let mut head = [0u8; CHECK_HEAD_BYTES];
    head.copy_from_slice(&check[..CHECK_HEAD_BYTES]);
    if head[CHECK_FIXED..] != [0; CHECK_HEAD_BYTES - CHECK_FIXED] {
        return Err(PhibinError::malformed(format!(
            "the reserved bytes 12..16 of `{CHECK_SECTION}` are {}, not zero",
            hex(&head[CHECK_FIXED..])
        )));
    }
    let mut expected = [0u8; CHECKSUM_BYTES];
    expected.copy_from_slice(&check[CHECK_HEAD_BYTES..]);

    sections.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(pair) = sections.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(PhibinError::malformed(format!("two sections are named `{}`", pair[0].0)));
    }
    let found = checksum(&head, &sections);
    if found != expected {
        return Err(PhibinError::new(ErrorKind::ChecksumMismatch { expected, found }));
    }
    Ok(RawPhibin { version, checksum: expected, sections })
}

/// Reads a `.phibin` from its bytes, checking everything (see the module documentation).
pub fn read(bytes: &[u8]) -> Result<Phibin, PhibinError> {
    let raw = read_sections(bytes)?;
    let meta_json =
        raw.section(META_SECTION).ok_or(PhibinError::new(ErrorKind::MissingSection { name: META_SECTION }))?;
    let code = raw.section(CODE_SECTION).ok_or(PhibinError::new(ErrorKind::MissingSection { name: CODE_SECTION }))?;
    if !code.len().is_multiple_of(INSTRUCTION_BYTES) {
        return Err(PhibinError::new(ErrorKind::CodeLength { bytes: code.len() as u64 }));
    }
    let meta: ProgramMeta = serde_json::from_slice(meta_json)
        .map_err(|e| PhibinError::new(ErrorKind::InvalidMeta { message: e.to_string() }))?;
    if meta.format_version != raw.version {
        return Err(PhibinError::new(ErrorKind::VersionMismatch { meta: meta.format_version, check: raw.version }));
    }
    check_regions(&meta).map_err(|message| PhibinError::new(ErrorKind::InvalidMeta { message }))?;
    let mut regions: Vec<(&str, &[u8])> = Vec::with_capacity(meta.regions.len());
    for region in &meta.regions {
        let data = raw
            .section(&region.section)
            .ok_or_else(|| PhibinError::new(ErrorKind::MissingRegion { name: region.section.clone() }))?;
        if data.len() as u64 != u64::from(region.bytes) {
            return Err(PhibinError::new(ErrorKind::RegionSize {
                name: region.section.clone(),
                meta: u64::from(region.bytes),
                section: data.len() as u64,
            }));
        }
        regions.push((&region.section, data));
    }
    for (name, _) in &raw.sections {
        let known = [META_SECTION, CODE_SECTION, SAMPLE_SECTION].contains(name)
            || meta.regions.iter().any(|r| r.section == *name);
        if !known {
            return Err(PhibinError::malformed(format!(
                "unexpected section `{name}`: not a section of the format nor a constant region of the metadata"
            )));
        }
    }
    Ok(Phibin {
        code: code.to_vec(),
        sections: regions.into_iter().map(|(name, data)| (name.to_string(), data.to_vec())).collect(),
        sample: raw.section(SAMPLE_SECTION).map(<[u8]>::to_vec),
        meta,
    })
}

/// Reads a `.phibin` file (see [`read`]); errors name the file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Phibin, PhibinError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|source| PhibinError::new(ErrorKind::Io { action: "read", source }).with_path(path))?;
    read(&bytes).map_err(|e| e.with_path(path))
}
