//! The `.phibin` container: round trips, `readelf`, and every way a file can be wrong
//! (truncation, bit flips, versions, missing or inconsistent sections, random bytes).

use std::path::Path;
use std::process::Command;

use object::read::elf::{FileHeader as _, SectionHeader as _};
use phi_dialect::hw::HwConfig;
use phi_dialect::phibin::{self, ErrorKind, Phibin, PhibinError};
use phi_dialect::program::{
    FORMAT_VERSION, InputKind, InputMap, LayerDesc, LayerInput, LayerMode, Neuron, Port, PortElem, ProgramMeta, Region,
    TargetKind,
};
use sha2::{Digest, Sha256};

/// A small deterministic generator (splitmix64), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A two-layer program: 64 → 32 (Phi) → 10 (dense), three constant regions.
fn sample_meta() -> ProgramMeta {
    let weights = 64 * 32 + 32 * 10;
    let pwp = 4 * 8 * 32 * 2;
    let patterns = 4 * 8 * 4;
    let regions = vec![
        Region { section: ".phi.weights".into(), dram: 0, bytes: weights },
        Region { section: ".phi.pwp".into(), dram: weights, bytes: pwp },
        Region { section: ".phi.patterns".into(), dram: weights + pwp, bytes: patterns },
    ];
    let act = weights + pwp + patterns;
    let neuron = Some(Neuron { leak: 243, shift: 8, threshold: 100, reset_zero: false });
    let layers = vec![
        LayerDesc {
            name: "fc1_weight".into(),
            rows: 8,
            rows_per_sample: 8,
            positions: 1,
            k_cols: 64,
            n: 32,
            k: 16,
            q: 8,
            mode: LayerMode::Phi,
            input: LayerInput { kind: InputKind::Spikes, dram: act, row_bytes: 8, map: InputMap::Rows },
            weights: 0,
            bias: None,
            patterns: Some(weights + pwp),
            pwp: Some(weights),
            neuron,
            output: act + 64,
            membrane: act + 96,
        },
        LayerDesc {
            name: "fc2_weight".into(),
            rows: 8,
            rows_per_sample: 8,
            positions: 1,
            k_cols: 32,
            n: 10,
            k: 16,
            q: 0,
            mode: LayerMode::Dense,
            input: LayerInput { kind: InputKind::Spikes, dram: act + 64, row_bytes: 4, map: InputMap::Rows },
            weights: 64 * 32,
            bias: None,
            patterns: None,
            pwp: None,
            neuron,
            output: act + 224,
            membrane: act + 240,
        },
    ];
    ProgramMeta {
        format_version: FORMAT_VERSION,
        model: "tiny \"mlp\" — ünïcode".into(),
        target: TargetKind::Phi,
        time_steps: 8,
        batch: 1,
        inputs: vec![Port {
            name: "x".into(),
            shape: vec![8, 64],
            elem: PortElem::I1,
            dram: act,
            row_bytes: 8,
            scale: None,
        }],
        outputs: vec![Port {
            name: "y".into(),
            shape: vec![8, 10],
            elem: PortElem::I1,
            dram: act + 224,
            row_bytes: 2,
            scale: None,
        }],
        layers,
        regions,
        activations: act,
        dram_bytes: act + 512,
        hw: HwConfig::default(),
    }
}

struct Parts {
    meta: ProgramMeta,
    code: Vec<u8>,
    sections: Vec<(String, Vec<u8>)>,
    sample: Option<Vec<u8>>,
}

fn sample_parts() -> Parts {
    let meta = sample_meta();
    let mut rng = Rng(7);
    let code = rng.bytes(37 * phibin::INSTRUCTION_BYTES);
    let sections = meta.regions.iter().map(|r| (r.section.clone(), rng.bytes(r.bytes as usize))).collect();
    let mut sample = b"\x93NUMPY\x01\x00".to_vec();
    sample.extend(rng.bytes(120));
    Parts { meta, code, sections, sample: Some(sample) }
}

fn write_parts(p: &Parts) -> Vec<u8> {
    phibin::write(&p.meta, &p.code, &p.sections, p.sample.as_deref()).unwrap()
}

fn expected(p: &Parts) -> Phibin {
    Phibin { meta: p.meta.clone(), code: p.code.clone(), sections: p.sections.clone(), sample: p.sample.clone() }
}

/// The file ranges of the `.phi.*` sections (the bytes the checksum covers), read with `object`.
fn phi_section_ranges(bytes: &[u8]) -> Vec<(String, std::ops::Range<usize>)> {
    let endian = object::LittleEndian;
    let header = object::elf::FileHeader64::<object::LittleEndian>::parse(bytes).unwrap();
    let table = header.sections(endian, bytes).unwrap();
    table
        .iter()
        .filter_map(|s| {
            let name = std::str::from_utf8(table.section_name(endian, s).unwrap()).unwrap();
            let start = s.sh_offset(endian) as usize;
            let end = start + s.sh_size(endian) as usize;
            name.starts_with(".phi.").then(|| (name.to_string(), start..end))
        })
        .collect()
}

fn section_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    phi_section_ranges(bytes).into_iter().find(|(n, _)| n == name).unwrap().1
}

fn err(r: Result<Phibin, PhibinError>) -> PhibinError {
    let e = r.expect_err("expected an error");
    // Every error says something.
    assert!(!e.to_string().is_empty());
    e
}

#[test]
fn round_trip_with_all_parts() {
    let p = sample_parts();
    let bytes = write_parts(&p);
    let back = phibin::read(&bytes).unwrap();
    assert_eq!(back, expected(&p));
    assert_eq!(back.instructions().len(), 37);
    assert_eq!(back.instructions()[1][..], p.code[16..32]);
    // Writing is deterministic, and what is read writes back to the same bytes.
    assert_eq!(write_parts(&p), bytes);
    assert_eq!(back.to_bytes().unwrap(), bytes);
}

#[test]
fn round_trip_without_sample_and_with_empty_parts() {
    let mut p = sample_parts();
    p.sample = None;
    let back = phibin::read(&write_parts(&p)).unwrap();
    assert_eq!(back, expected(&p));
    assert_eq!(back.sample, None);

    let mut meta = sample_meta();
    meta.regions.clear();
    meta.layers.clear();
    let back = phibin::read(&phibin::write(&meta, &[], &[], Some(&[])).unwrap()).unwrap();
    assert_eq!(back, Phibin { meta, code: vec![], sections: vec![], sample: Some(vec![]) });
}

#[test]
fn regions_are_written_and_read_in_meta_order() {
    let mut p = sample_parts();
    let expect = expected(&p);
    p.sections.reverse();
    let back = phibin::read(&write_parts(&p)).unwrap();
    assert_eq!(back.sections, expect.sections);
}

#[test]
fn file_round_trip_is_atomic_and_names_the_file() {
    let p = sample_parts();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.phibin");
    phibin::write_file(&path, &p.meta, &p.code, &p.sections, p.sample.as_deref()).unwrap();
    assert_eq!(phibin::read_file(&path).unwrap(), expected(&p));
    // Overwriting leaves exactly the one file (no temporary behind).
    phibin::write_file(&path, &p.meta, &p.code, &p.sections, None).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.phibin")]);
    assert_eq!(phibin::read_file(&path).unwrap().sample, None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_ne!(mode & 0o044, 0, "an ordinary file, not 0600: {mode:o}");
    }

    // A corrupted file: the message starts with its path.
    let mut bytes = std::fs::read(&path).unwrap();
    let code = section_range(&bytes, ".phi.code");
    bytes[code.start + 3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = phibin::read_file(&path).unwrap_err();
    assert_eq!(err.path(), Some(path.as_path()));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: checksum mismatch (the file is corrupted or was edited): expected SHA-256 ",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains(", found "), "{msg}");

    // A missing file.
    let err = phibin::read_file(dir.path().join("nope.phibin")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io { action: "read", .. }), "{err}");
    assert!(err.to_string().contains("nope.phibin: cannot read the file: "), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    // A directory that does not exist: the write fails with the path, nothing is created.
    let err =
        phibin::write_file(dir.path().join("no/such/dir/m.phibin"), &p.meta, &p.code, &p.sections, None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io { action: "write", .. }), "{err}");
}

fn readelf(args: &[&str], file: &Path) -> Option<String> {
    match Command::new("readelf").args(args).arg(file).output() {
        Ok(out) => {
            assert!(out.status.success(), "readelf {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
            assert!(out.stderr.is_empty(), "readelf {args:?} warns: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => {
            eprintln!("skipping the readelf checks: cannot run `readelf` ({e}); install binutils to run them");
            None
        }
    }
}

#[test]
fn readelf_shows_the_parts() {
    let p = sample_parts();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.phibin");
    phibin::write_file(&path, &p.meta, &p.code, &p.sections, p.sample.as_deref()).unwrap();
    let Some(sections) = readelf(&["-S", "-W"], &path) else { return };
    for name in [".phi.check", ".phi.meta", ".phi.code", ".phi.weights", ".phi.pwp", ".phi.patterns", ".phi.sample"] {
        let line = sections.lines().find(|l| l.split_whitespace().any(|w| w == name));
        let line = line.unwrap_or_else(|| panic!("readelf -S does not list {name}:\n{sections}"));
        assert!(line.contains("PROGBITS"), "{line}");
    }
    let Some(header) = readelf(&["-h"], &path) else { return };
    assert!(header.contains("ELF64"), "{header}");
    assert!(header.contains("little endian"), "{header}");
    assert!(header.contains("REL (Relocatable file)"), "{header}");
    assert!(header.lines().any(|l| l.trim_start().starts_with("Machine:") && l.contains("None")), "{header}");
    let Some(meta) = readelf(&["-p", ".phi.meta"], &path) else { return };
    assert!(meta.contains(&format!("\"format_version\": {FORMAT_VERSION}")), "{meta}");
    assert!(meta.contains("fc1_weight"), "{meta}");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = write_parts(&sample_parts());
    assert!(bytes.len() > 4096, "the test wants a file larger than 4 KB, not {}", bytes.len());
    let mut lengths: Vec<usize> = (0..4096).collect();
    lengths.extend((4096..bytes.len()).step_by(7));
    lengths.push(bytes.len() - 1);
    for len in lengths {
        if let Ok(p) = phibin::read(&bytes[..len]) {
            panic!("truncated to {len} of {} bytes, the file still reads: {:?}", bytes.len(), p.meta.model);
        }
    }
}

#[test]
fn every_bit_flip_is_an_error_or_changes_nothing() {
    let p = sample_parts();
    let bytes = write_parts(&p);
    let original = expected(&p);
    let covered = phi_section_ranges(&bytes);
    let mut rng = Rng(0x5eed);
    let (mut errors, mut unchanged) = (0, 0);
    let mut buf = bytes.clone();
    for _ in 0..5000 {
        let pos = rng.below(bytes.len());
        let bit = 1u8 << rng.below(8);
        buf[pos] ^= bit;
        match phibin::read(&buf) {
            Err(_) => errors += 1,
            Ok(back) => {
                assert_eq!(back, original, "flipping bit {bit:#04x} of byte {pos} changed the program");
                let section = covered.iter().find(|(_, r)| r.contains(&pos));
                assert!(section.is_none(), "byte {pos} of {section:?} is covered, yet its flip went unnoticed");
                unchanged += 1;
            }
        }
        buf[pos] ^= bit;
    }
    assert_eq!(errors + unchanged, 5000);
    eprintln!("5000 single-bit flips: {errors} errors, {unchanged} in bytes the reader ignores");
    // Most of the file is section contents: most flips must be caught.
    assert!(errors > 4000, "{errors} errors, {unchanged} harmless flips");

    // Every bit of the covered sections and of the checked ELF identification (magic, class,
    // data encoding, version: bytes 0..7), exhaustively.
    let mut positions: Vec<usize> = (0..7).collect();
    for (_, r) in &covered {
        positions.extend(r.clone());
    }
    for pos in positions {
        for b in 0..8 {
            buf[pos] ^= 1 << b;
            assert!(phibin::read(&buf).is_err(), "flipping bit {b} of byte {pos} went unnoticed");
            buf[pos] ^= 1 << b;
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let good = write_parts(&sample_parts());
    let mut rng = Rng(42);
    for i in 0..100_000 {
        let len = rng.below(600);
        let mut bytes = rng.bytes(len);
        // Some start like an ELF64 LE file, some are a real file with random damage, so that
        // the deeper checks see garbage too.
        match i % 4 {
            0 => {}
            1 => {
                let head = &good[..16.min(len)];
                bytes[..head.len()].copy_from_slice(head);
            }
            2 | 3 => {
                bytes = good.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
                if i % 4 == 3 {
                    bytes.truncate(rng.below(good.len() + 1));
                }
            }
            _ => unreachable!(),
        }
        if let Ok(back) = phibin::read(&bytes) {
            assert_eq!(back.meta, sample_meta(), "case {i}: random bytes read as a different program");
        }
    }
}

#[test]
fn the_checksum_is_the_documented_sha256() {
    let bytes = write_parts(&sample_parts());
    let check = &bytes[section_range(&bytes, ".phi.check")];
    assert_eq!(check.len(), phibin::CHECK_BYTES);
    assert_eq!(&check[..8], b"PHIBIN\0\0");
    assert_eq!(u32::from_le_bytes(check[8..12].try_into().unwrap()), FORMAT_VERSION);
    assert_eq!(&check[12..16], &[0; 4]);
    // Recomputed from docs/phibin.md, independently of the module.
    let mut covered: Vec<_> = phi_section_ranges(&bytes).into_iter().filter(|(n, _)| n != ".phi.check").collect();
    covered.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    h.update(&check[..16]);
    for (name, range) in &covered {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((range.len() as u64).to_le_bytes());
        h.update(&bytes[range.clone()]);
    }
    assert_eq!(h.finalize()[..], check[16..]);
    let raw = phibin::read_sections(&bytes).unwrap();
    assert_eq!(raw.checksum[..], check[16..]);
    let names: Vec<&str> = raw.sections.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, [".phi.code", ".phi.meta", ".phi.patterns", ".phi.pwp", ".phi.sample", ".phi.weights"]);
}

/// Sets the version in `.phi.check` without fixing anything else.
fn with_version(bytes: &[u8], version: u32) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let check = section_range(&bytes, ".phi.check");
    bytes[check.start + 8..check.start + 12].copy_from_slice(&version.to_le_bytes());
    bytes
}

#[test]
fn other_versions_are_refused_with_the_supported_ones() {
    let bytes = write_parts(&sample_parts());
    for version in [0, FORMAT_VERSION - 1, FORMAT_VERSION + 1, 7, u32::MAX] {
        let e = phibin::read(&with_version(&bytes, version)).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::UnsupportedVersion { found, supported } if *found == version && supported.len() == 1 && supported[0] == FORMAT_VERSION),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("format version {version}"))
                && msg.contains(&format!("reads version {FORMAT_VERSION}")),
            "{msg}"
        );
    }
    // A consistent file of a future version (its checksum right) is refused the same way.
    let meta = serde_json::to_vec(&sample_meta()).unwrap();
    let file = phibin::write_sections(FORMAT_VERSION + 1, &[(".phi.meta", &meta), (".phi.code", &[])]).unwrap();
    let e = phibin::read(&file).unwrap_err();
    assert!(e.to_string().contains("written by a newer toolchain"), "{e}");
    // The metadata and the check section disagree.
    let mut meta = sample_meta();
    meta.format_version = FORMAT_VERSION + 1;
    meta.regions.clear();
    let json = serde_json::to_vec(&meta).unwrap();
    let file = phibin::write_sections(FORMAT_VERSION, &[(".phi.meta", &json), (".phi.code", &[])]).unwrap();
    assert!(matches!(
        err(phibin::read(&file)).kind(),
        ErrorKind::VersionMismatch { meta, check } if *meta == FORMAT_VERSION + 1 && *check == FORMAT_VERSION
    ));
}

/// A file of the given sections with a correct checksum: the content checks, not the checksum,
/// must find what is wrong.
fn crafted(sections: &[(&str, &[u8])]) -> Result<Phibin, PhibinError> {
    phibin::read(&phibin::write_sections(FORMAT_VERSION, sections).unwrap())
}

#[test]
fn inconsistent_sections_are_refused() {
    let p = sample_parts();
    let meta = serde_json::to_vec(&p.meta).unwrap();
    let regions: Vec<(&str, &[u8])> = p.sections.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    fn join<'a>(extra: &[(&'a str, &'a [u8])], regions: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
        extra.iter().chain(regions).copied().collect()
    }

    // The crafted file itself is fine.
    let ok = crafted(&join(&[(".phi.meta", &meta), (".phi.code", &p.code)], &regions)).unwrap();
    assert_eq!(ok.sections, p.sections);

    let e = err(crafted(&join(&[(".phi.code", &p.code)], &regions)));
    assert!(matches!(e.kind(), ErrorKind::MissingSection { name: ".phi.meta" }), "{e}");
    let e = err(crafted(&join(&[(".phi.meta", &meta)], &regions)));
    assert!(matches!(e.kind(), ErrorKind::MissingSection { name: ".phi.code" }), "{e}");
    let e = err(crafted(&join(&[(".phi.meta", &meta), (".phi.code", &p.code[..17])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::CodeLength { bytes: 17 }), "{e}");
    assert!(e.to_string().contains("not a whole number of 16-byte instructions"), "{e}");

    let e = err(crafted(&join(&[(".phi.meta", b"{\"format_version\": 1,"), (".phi.code", &[])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::InvalidMeta { message } if message.contains("line 1")), "{e}");
    let e = err(crafted(&join(&[(".phi.meta", b"\xff\xfe"), (".phi.code", &[])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::InvalidMeta { .. }), "{e}");

    // A region without its section, and a section of the wrong size.
    let e = err(crafted(&[(".phi.meta", &meta), (".phi.code", &[]), regions[0], regions[1]]));
    assert!(matches!(e.kind(), ErrorKind::MissingRegion { name } if name == ".phi.patterns"), "{e}");
    let short = &p.sections[0].1[..10];
    let e = err(crafted(&[(".phi.meta", &meta), (".phi.code", &[]), (".phi.weights", short), regions[1], regions[2]]));
    assert!(
        matches!(e.kind(), ErrorKind::RegionSize { name, meta: 2368, section: 10 } if name == ".phi.weights"),
        "{e}"
    );

    // A region of 4 GiB − 1: refused without allocating it.
    let mut huge = p.meta.clone();
    huge.regions[1].bytes = u32::MAX;
    let huge = serde_json::to_vec(&huge).unwrap();
    let e = err(crafted(&join(&[(".phi.meta", &huge), (".phi.code", &[])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::RegionSize { meta: 4294967295, .. }), "{e}");

    // A section nobody names, a region named like a section of the format, duplicate regions.
    let e = err(crafted(&join(&[(".phi.meta", &meta), (".phi.code", &[]), (".phi.extra", b"x")], &regions)));
    assert!(matches!(e.kind(), ErrorKind::Malformed { message } if message.contains(".phi.extra")), "{e}");
    let mut bad = p.meta.clone();
    bad.regions[0].section = ".phi.code".into();
    let bad = serde_json::to_vec(&bad).unwrap();
    let e = err(crafted(&join(&[(".phi.meta", &bad), (".phi.code", &[])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::InvalidMeta { message } if message.contains("reserves")), "{e}");
    let mut bad = p.meta.clone();
    bad.regions[1].section = ".phi.weights".into();
    let bad = serde_json::to_vec(&bad).unwrap();
    let e = err(crafted(&join(&[(".phi.meta", &bad), (".phi.code", &[])], &regions)));
    assert!(matches!(e.kind(), ErrorKind::InvalidMeta { message } if message.contains("two constant regions")), "{e}");

    // A port element kind other than `i1` and `i32`: refused when the metadata is parsed, with
    // the kind found and the kinds allowed.
    let json = String::from_utf8(meta.clone()).unwrap();
    let bad = json.replacen("\"elem\":\"i1\"", "\"elem\":\"f64\"", 1);
    assert_ne!(bad, json, "the sample has an i1 port");
    let e = err(crafted(&join(&[(".phi.meta", bad.as_bytes()), (".phi.code", &[])], &regions)));
    assert!(
        matches!(e.kind(), ErrorKind::InvalidMeta { message }
            if message.contains("`f64`") && message.contains("`i1` or `i32`")),
        "{e}"
    );
}

#[test]
fn port_elements_are_spelled_as_element_types() {
    for (elem, json) in [(PortElem::I1, "\"i1\""), (PortElem::I32, "\"i32\"")] {
        assert_eq!(serde_json::to_string(&elem).unwrap(), json);
        assert_eq!(serde_json::from_str::<PortElem>(json).unwrap(), elem);
        assert_eq!(format!("\"{elem}\""), json);
        assert_eq!(elem.elem_type().name(), elem.name());
    }
}

/// Returns the file with one ELF section header field (at `field` bytes into the header of
/// section `name`) replaced by `value`.
fn patch_section_header(bytes: &[u8], name: &str, field: usize, value: u64) -> Vec<u8> {
    let endian = object::LittleEndian;
    let header = object::elf::FileHeader64::<object::LittleEndian>::parse(bytes).unwrap();
    let table = header.sections(endian, bytes).unwrap();
    let index = table.iter().position(|s| table.section_name(endian, s).unwrap() == name.as_bytes()).unwrap();
    let at = header.e_shoff(endian) as usize + index * 64 + field;
    let mut out = bytes.to_vec();
    match field {
        0 | 4 | 40 | 44 => out[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes()),
        _ => out[at..at + 8].copy_from_slice(&value.to_le_bytes()),
    }
    out
}

#[test]
fn sizes_and_offsets_are_checked_against_the_file_length() {
    let bytes = write_parts(&sample_parts());
    let len = bytes.len() as u64;
    const SH_TYPE: usize = 4;
    const SH_FLAGS: usize = 8;
    const SH_OFFSET: usize = 24;
    const SH_SIZE: usize = 32;
    for (field, value) in [(SH_SIZE, len), (SH_SIZE, u64::MAX), (SH_OFFSET, len), (SH_OFFSET, u64::MAX - 3)] {
        let e = err(phibin::read(&patch_section_header(&bytes, ".phi.weights", field, value)));
        assert!(matches!(e.kind(), ErrorKind::OutOfBounds { what, .. } if what.contains(".phi.weights")), "{e}");
        assert!(e.to_string().contains("the file is"), "{e}");
    }
    // A section whose size shrank, within the file: the checksum sees it.
    let e = err(phibin::read(&patch_section_header(&bytes, ".phi.weights", SH_SIZE, 5)));
    assert!(matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }), "{e}");
    // Type and flags of `.phi.*` sections.
    let e = err(phibin::read(&patch_section_header(&bytes, ".phi.code", SH_TYPE, 8)));
    assert!(matches!(e.kind(), ErrorKind::Malformed { message } if message.contains("SHT_PROGBITS")), "{e}");
    let e = err(phibin::read(&patch_section_header(&bytes, ".phi.code", SH_FLAGS, 2)));
    assert!(matches!(e.kind(), ErrorKind::Malformed { message } if message.contains("flags")), "{e}");

    // The section header table beyond the end of the file (e_shoff at 0x28, e_shnum at 0x3c).
    let mut b = bytes.clone();
    b[0x28..0x30].copy_from_slice(&(len - 10).to_le_bytes());
    let e = err(phibin::read(&b));
    assert!(matches!(e.kind(), ErrorKind::OutOfBounds { what, .. } if what == "the section header table"), "{e}");
    let mut b = bytes.clone();
    b[0x3c..0x3e].copy_from_slice(&0xfff0u16.to_le_bytes());
    let e = err(phibin::read(&b));
    assert!(matches!(e.kind(), ErrorKind::OutOfBounds { what, .. } if what == "the section header table"), "{e}");
}

#[test]
fn files_that_are_not_phibins() {
    assert!(matches!(err(phibin::read(b"")).kind(), ErrorKind::NotElf));
    assert!(matches!(err(phibin::read(b"hello, world")).kind(), ErrorKind::NotElf));
    let e = phibin::read(b"\x7fELF\x01\x01\x01").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::WrongClass { class: 1 }), "{e}");
    assert!(e.to_string().contains("32-bit"), "{e}");
    let e = phibin::read(b"\x7fELF\x02\x02\x01").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::WrongEndianness { data: 2 }), "{e}");
    assert!(e.to_string().contains("big-endian"), "{e}");
    let e = err(phibin::read(b"\x7fELF\x02\x01\x01\0"));
    assert!(matches!(e.kind(), ErrorKind::OutOfBounds { what, .. } if what == "the ELF header"), "{e}");

    // An ordinary x86-64 object file.
    let mut obj =
        object::write::Object::new(object::BinaryFormat::Elf, object::Architecture::X86_64, object::Endianness::Little);
    let text = obj.add_section(vec![], b".text".to_vec(), object::SectionKind::Text);
    obj.append_section_data(text, &[0xc3], 1);
    let e = err(phibin::read(&obj.write().unwrap()));
    assert!(matches!(e.kind(), ErrorKind::NotPhibin { reason } if reason.contains("machine 62")), "{e}");

    // A phibin whose check section lost its magic, or which has none.
    let bytes = write_parts(&sample_parts());
    let mut b = bytes.clone();
    let check = section_range(&b, ".phi.check");
    b[check.start] = b'X';
    let e = err(phibin::read(&b));
    assert!(matches!(e.kind(), ErrorKind::NotPhibin { reason } if reason.contains("magic")), "{e}");
    let renamed = rename_section(&bytes, ".phi.check", ".xhi.check");
    let e = err(phibin::read(&renamed));
    assert!(matches!(e.kind(), ErrorKind::NotPhibin { reason } if reason.contains("no `.phi.check`")), "{e}");
}

/// Renames a section in `.shstrtab` (same length).
fn rename_section(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut needle = from.as_bytes().to_vec();
    needle.push(0);
    let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

#[test]
fn edited_files_fail_the_checksum() {
    let bytes = write_parts(&sample_parts());
    // A section "removed" by renaming it out of the `.phi.` namespace, as a tool could.
    for name in [".phi.meta", ".phi.code", ".phi.pwp", ".phi.sample"] {
        let to = format!(".xhi{}", &name[4..]);
        let e = err(phibin::read(&rename_section(&bytes, name, &to)));
        assert!(matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }), "{name}: {e}");
    }
    // The metadata edited in place.
    let meta = section_range(&bytes, ".phi.meta");
    let mut b = bytes.clone();
    let at = meta.start + bytes[meta.clone()].windows(4).position(|w| w == b"tiny").unwrap();
    b[at..at + 4].copy_from_slice(b"huge");
    assert!(matches!(err(phibin::read(&b)).kind(), ErrorKind::ChecksumMismatch { .. }));
}

#[test]
fn write_refuses_parts_that_would_not_read_back() {
    let p = sample_parts();
    let sample = p.sample.as_deref();
    let invalid = |r: Result<Vec<u8>, PhibinError>, needle: &str| {
        let e = r.unwrap_err();
        assert!(e.to_string().contains(needle), "`{e}` does not say `{needle}`");
    };
    let mut meta = p.meta.clone();
    meta.format_version = FORMAT_VERSION + 1;
    invalid(phibin::write(&meta, &p.code, &p.sections, sample), &format!("writes format version {FORMAT_VERSION}"));
    invalid(phibin::write(&p.meta, &p.code[..20], &p.sections, sample), "16-byte instructions");
    invalid(phibin::write(&p.meta, &p.code, &p.sections[1..], sample), "no section of that name");
    let mut sections = p.sections.clone();
    sections[2].1.push(0);
    invalid(phibin::write(&p.meta, &p.code, &sections, sample), "the metadata says 128 bytes");
    let mut sections = p.sections.clone();
    sections.push((".phi.other".into(), vec![1]));
    invalid(phibin::write(&p.meta, &p.code, &sections, sample), "not a constant region");
    let mut sections = p.sections.clone();
    sections.push(sections[0].clone());
    invalid(phibin::write(&p.meta, &p.code, &sections, sample), "two sections are named");
    let mut meta = p.meta.clone();
    meta.regions[0].section = "weights".into();
    invalid(phibin::write(&meta, &p.code, &p.sections, sample), "does not start with `.phi.`");
    let mut meta = p.meta.clone();
    meta.regions[0].section = ".phi.w eights".into();
    invalid(phibin::write(&meta, &p.code, &p.sections, sample), "ASCII letters");
    let mut meta = p.meta.clone();
    meta.regions[0].section = ".phi.sample".into();
    invalid(phibin::write(&meta, &p.code, &p.sections, sample), "reserves");
    let mut meta = p.meta.clone();
    meta.hw.energy.add32 = f64::NAN;
    invalid(phibin::write(&meta, &p.code, &p.sections, sample), "NaN");
    invalid(phibin::write_sections(1, &[(".phi.check", b"")]), "written by the container");
    invalid(phibin::write_sections(1, &[(".text", b"")]), "does not start with `.phi.`");
}

#[test]
fn hardware_floats_survive_exactly() {
    let mut p = sample_parts();
    p.meta.hw.clock_mhz = 0.1 + 0.2;
    p.meta.hw.dram.pj_per_bit = 12.450000000000001;
    p.meta.hw.energy.sram_pj_per_byte_1kb = 1.0e-300;
    p.meta.hw.energy.static_mw = f64::MAX;
    let back = phibin::read(&write_parts(&p)).unwrap();
    assert_eq!(back.meta.hw, p.meta.hw);
}
