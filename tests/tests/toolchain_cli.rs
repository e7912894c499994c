//! The `phic` and `phi-emu` command lines end to end, on the bundled example
//! (`examples/digits_mlp`): compiling to `.phibin` (targets, baselines, determinism, the ELF
//! sections), `--emit=isa` against the binary, `--hw` configurations and their diagnostics,
//! `--emulate`, `phi-emu`'s outputs, statistics and trace, and how `phi-emu` refuses malformed
//! binaries, crafted programs and bad inputs: exit status 1 with a one-line `error:` naming the
//! file — never a panic (101) or a signal.
//!
//! The binaries are the test copies `phic-lit` (exactly `phic`) and `phi-emu-lit` (exactly
//! `phi-emu`). The example is compiled once per process ([`compiled`]); every test works in its
//! own temporary directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use phi_dialect::hw::HwConfig;
use phi_dialect::isa::encode::{decode_all, encode_all};
use phi_dialect::isa::text::{listing, parse_listing};
use phi_dialect::isa::{Buffer, Deps, Inst};
use phi_dialect::phibin::{self, Phibin};
use phi_dialect::program::{FORMAT_VERSION, TargetKind};
use phi_runtime::npy::{NpyArray, read_npy};

const PHIC: &str = env!("CARGO_BIN_EXE_phic-lit");
const EMU: &str = env!("CARGO_BIN_EXE_phi-emu-lit");

/// The sections every compiled program has (the example has all three constant regions).
const SECTIONS: [&str; 6] = [".phi.code", ".phi.meta", ".phi.weights", ".phi.pwp", ".phi.patterns", ".phi.sample"];

// ---------------------------------------------------------------------------------------------
// Helpers

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp").join(file)
}

fn model() -> PathBuf {
    example("model.snn")
}

/// What a command did.
#[derive(Debug)]
struct Run {
    /// The exit code (`None`: killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }

    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success; {}", self.describe());
        self
    }

    /// Exit status 1 (not a panic's 101, not a signal), and stderr is exactly one line
    /// `error: …` that contains every string of `mentions`.
    #[track_caller]
    fn error(&self, mentions: &[&str]) -> &Self {
        assert_eq!(self.code, Some(1), "expected exit status 1 (an error, not a crash); {}", self.describe());
        let err = self.stderr.trim_end();
        assert!(err.starts_with("error: "), "stderr must start with `error: `; {}", self.describe());
        assert_eq!(err.lines().count(), 1, "the error must be one line; {}", self.describe());
        for m in mentions {
            assert!(err.contains(m), "the error must mention `{m}`; {}", self.describe());
        }
        self
    }
}

fn run<I, S>(bin: &str, dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out =
        Command::new(bin).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn phic<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(PHIC, dir, args)
}

fn emu<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(EMU, dir, args)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Compiles the example into `dir/name` with `extra` options; returns the path.
fn compile(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<std::ffi::OsString> = vec![model().into(), "-o".into(), out.clone().into()];
    args.extend(extra.iter().map(Into::into));
    args.push("-q".into());
    phic(dir, &args).ok();
    out
}

/// The example compiled with the default options (once per process).
fn compiled() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let d = tmp();
        std::fs::read(compile(d.path(), "model.phibin", &[])).expect("the compiled program")
    })
}

/// The example compiled for the bit-sparse baseline (once per process).
fn compiled_bit_sparse() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let d = tmp();
        std::fs::read(compile(d.path(), "bs.phibin", &["--target", "bit-sparse"])).expect("the compiled program")
    })
}

fn program() -> Phibin {
    phibin::read(compiled()).expect("the compiled example reads back")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write a test file");
    p
}

/// `bin` with its code replaced by `code` (a well-formed file: valid checksum).
fn with_code(bin: &Phibin, code: &[Inst]) -> Vec<u8> {
    let bytes = encode_all(code).expect("the modified code encodes");
    phibin::write(&bin.meta, &bytes, &bin.sections, bin.sample.as_deref()).expect("the modified program writes")
}

fn decoded(bin: &Phibin) -> Vec<Inst> {
    decode_all(&bin.code).expect("the compiled code decodes")
}

/// The byte range of section `name` in the file `bytes`.
fn section_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let raw = phibin::read_sections(bytes).expect("a valid container");
    let s = raw.section(name).unwrap_or_else(|| panic!("no section {name}"));
    let start = s.as_ptr() as usize - bytes.as_ptr() as usize;
    start..start + s.len()
}

fn table_row<'a>(stdout: &'a str, first_cell: &str) -> Option<&'a str> {
    stdout.lines().find(|l| l.starts_with(&format!("| {first_cell} |")))
}

fn write_npy_u8(path: &Path, shape: &[usize], data: Vec<u8>) {
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data).expect("shape");
    ndarray_npy::write_npy(path, &a).expect("write .npy");
}

// ---------------------------------------------------------------------------------------------
// The --stats and --trace files, read with serde_json.

type Json = serde_json::Value;

trait JsonExt {
    fn parse(text: &str) -> Result<Json, serde_json::Error>;
    fn at(&self, path: &str) -> &Json;
    fn u64(&self) -> u64;
    fn f64(&self) -> f64;
    fn arr(&self) -> &[Json];
    fn str(&self) -> Option<&str>;
}

impl JsonExt for Json {
    fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The value at a dotted path (`ops.phi`), or a panic naming the path.
    #[track_caller]
    fn at(&self, path: &str) -> &Json {
        path.split('.').fold(self, |v, k| v.get(k).unwrap_or_else(|| panic!("JSON has no `{path}` (at `{k}`)")))
    }

    #[track_caller]
    fn u64(&self) -> u64 {
        self.as_u64().unwrap_or_else(|| panic!("{self} is not an unsigned integer"))
    }

    #[track_caller]
    fn f64(&self) -> f64 {
        self.as_f64().unwrap_or_else(|| panic!("{self} is not a number"))
    }

    #[track_caller]
    fn arr(&self) -> &[Json] {
        self.as_array().unwrap_or_else(|| panic!("{self} is not an array"))
    }

    fn str(&self) -> Option<&str> {
        self.as_str()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Compiling

#[test]
fn compile_writes_a_phibin_that_reads_back() {
    let d = tmp();
    let out = d.path().join("t/model.phibin");
    std::fs::create_dir(d.path().join("t")).unwrap();
    let r = phic(d.path(), [model().as_os_str(), OsStr::new("-o"), OsStr::new("t/model.phibin"), OsStr::new("-q")]);
    r.ok();
    assert_eq!(r.stdout, "", "-q prints nothing on success");
    let bin = phibin::read_file(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bin.meta.format_version, FORMAT_VERSION);
    assert_eq!(bin.meta.model, "digits_mlp");
    assert_eq!(bin.meta.target, TargetKind::Phi);
    assert_eq!(bin.meta.time_steps, 8);
    assert_eq!(bin.meta.layers.len(), 3);
    assert_eq!(bin.meta.hw, HwConfig::default());
    let shapes: Vec<_> = bin.meta.inputs.iter().map(|p| p.shape.clone()).collect();
    assert_eq!(shapes, [vec![8, 64]]);
    let shapes: Vec<_> = bin.meta.outputs.iter().map(|p| p.shape.clone()).collect();
    assert_eq!(shapes, [vec![8, 10]]);
    let code = decoded(&bin);
    assert!(code.len() > 100, "{} instructions", code.len());
    assert_eq!(code.last(), Some(&Inst::Halt));
    assert_eq!(code.iter().filter(|i| **i == Inst::Halt).count(), 1);
    assert!(bin.sample.is_some(), "the held-out data's first batch is embedded");
    let regions: Vec<_> = bin.meta.regions.iter().map(|r| r.section.as_str()).collect();
    for s in [".phi.weights", ".phi.pwp", ".phi.patterns"] {
        assert!(regions.contains(&s), "region {s} in {regions:?}");
    }
    // The shared compile used the same command (in another directory): the same bytes.
    assert_eq!(std::fs::read(&out).unwrap(), compiled());
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    let d = tmp();
    let a = std::fs::read(compile(d.path(), "a.phibin", &[])).unwrap();
    let b = std::fs::read(compile(d.path(), "b.phibin", &[])).unwrap();
    assert!(a == b, "two compiles of the same model differ ({} and {} bytes)", a.len(), b.len());
}

#[test]
fn without_o_the_program_is_written_as_the_model_stem_in_the_working_directory() {
    let d = tmp();
    phic(d.path(), [model().as_os_str(), OsStr::new("-q")]).ok();
    let written = d.path().join("model.phibin");
    assert!(written.is_file(), "{} was not written", written.display());
    assert_eq!(std::fs::read(&written).unwrap(), compiled());
    assert!(!example("model.phibin").exists(), "nothing is written beside the model");
}

fn targets_of(code: &[Inst]) -> (usize, usize, usize, usize) {
    let count = |f: fn(&Inst) -> bool| code.iter().filter(|i| f(i)).count();
    (
        count(|i| matches!(i, Inst::Match { .. })),
        count(|i| matches!(i, Inst::L1Acc { .. } | Inst::L2Acc { .. } | Inst::PwpFetch { .. })),
        count(|i| matches!(i, Inst::BsAcc { .. })),
        count(|i| matches!(i, Inst::DenseMac { .. })),
    )
}

#[test]
fn targets_bit_sparse_and_dense_compile_to_their_own_instructions() {
    let d = tmp();
    let phi = program();
    let (m, l, bs, dense) = targets_of(&decoded(&phi));
    assert!(m > 0 && l > 0 && bs == 0 && dense == 0, "phi: {:?}", (m, l, bs, dense));
    for (target, want) in [("bit-sparse", TargetKind::BitSparse), ("dense", TargetKind::Dense)] {
        let p = compile(d.path(), &format!("{target}.phibin"), &["--target", target]);
        let bin = phibin::read_file(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bin.meta.target, want);
        let (m, l, bs, dense) = targets_of(&decoded(&bin));
        assert_eq!((m, l), (0, 0), "{target}: no pattern matching, no Level 1/2");
        match want {
            TargetKind::BitSparse => assert!(bs > 0 && dense == 0, "{target}: {bs} bs.acc, {dense} dense.mac"),
            TargetKind::Dense => assert!(bs == 0 && dense > 0, "{target}: {bs} bs.acc, {dense} dense.mac"),
            TargetKind::Phi => unreachable!(),
        }
        let pwp: u32 = bin.meta.regions.iter().filter(|r| r.section == ".phi.pwp").map(|r| r.bytes).sum();
        assert_eq!(pwp, 0, "{target}: a baseline ships no PWP table ({:?})", bin.meta.regions);
    }
}

#[test]
fn baselines_writes_the_two_baseline_programs_beside_the_output() {
    let d = tmp();
    let main = compile(d.path(), "m.phibin", &["--baselines"]);
    assert_eq!(std::fs::read(&main).unwrap(), compiled(), "--baselines does not change the main program");
    for (file, target) in [("m.bit-sparse.phibin", TargetKind::BitSparse), ("m.dense.phibin", TargetKind::Dense)] {
        let p = d.path().join(file);
        let bin = phibin::read_file(&p).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(bin.meta.target, target, "{file}");
        assert_eq!(bin.meta.model, "digits_mlp");
        if target == TargetKind::BitSparse {
            assert!(std::fs::read(&p).unwrap() == compiled_bit_sparse(), "{file} differs from `--target bit-sparse`");
        }
    }
    let mut names: Vec<_> =
        std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["m.bit-sparse.phibin", "m.dense.phibin", "m.phibin"], "no temporary files are left");
}

#[test]
fn readelf_lists_the_phi_sections() {
    let d = tmp();
    if Command::new("readelf").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipped: `readelf` is not available");
        return;
    }
    let p = write(d.path(), "model.phibin", compiled());
    let out = Command::new("readelf").args(["-S", "-W"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "readelf -S failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for s in SECTIONS.iter().chain([&".phi.check"]) {
        assert!(text.lines().any(|l| l.split_whitespace().any(|w| w == *s)), "readelf -S does not list {s}:\n{text}");
    }
    let out = Command::new("readelf").arg("-h").arg(&p).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ELF64") && text.contains("REL (Relocatable file)"), "readelf -h:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// 2. --emit=isa

#[test]
fn emit_isa_is_the_listing_of_the_compiled_code() {
    let d = tmp();
    for (extra, bytes) in [(&[][..], compiled()), (&["--target", "bit-sparse"][..], compiled_bit_sparse())] {
        let mut args = vec![model().into_os_string().into_string().unwrap(), "--emit=isa".into(), "-q".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let r = phic(d.path(), &args);
        r.ok();
        let parsed = parse_listing(&r.stdout).unwrap_or_else(|e| panic!("{extra:?}: the listing does not parse: {e}"));
        let code = decoded(&phibin::read(bytes).unwrap());
        assert_eq!(parsed.len(), code.len(), "{extra:?}");
        assert!(parsed == code, "{extra:?}: the listing is not the code of the binary");
        assert_eq!(r.stdout, listing(&code), "{extra:?}: --emit=isa prints `isa::text::listing`");
    }
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "--emit=isa writes no file");
}

#[test]
fn emit_isa_follows_the_hardware_configuration() {
    let d = tmp();
    let cfg = write(d.path(), "cfg.toml", b"m = 128\nq = 64\n");
    let p = compile(d.path(), "small.phibin", &["--hw", cfg.to_str().unwrap()]);
    let r = phic(d.path(), [model().as_os_str(), OsStr::new("--emit=isa"), OsStr::new("--hw"), cfg.as_os_str()]);
    r.ok();
    let code = decoded(&phibin::read_file(&p).unwrap());
    assert!(parse_listing(&r.stdout).unwrap() == code);
    assert!(code != decoded(&program()), "m = 128 changes the tiling");
}

// ---------------------------------------------------------------------------------------------
// 3. --hw

#[test]
fn a_bad_hardware_configuration_is_a_diagnostic_at_its_line_and_column() {
    let d = tmp();
    let cases: [(&str, &str, &str); 4] = [
        ("clock_mhz = 500.0\nbogus = 1\n", "cfg.toml:2:1", "unknown field `bogus`"),
        ("clock_mhz = 500.0\nm = \"abc\"\n", "cfg.toml:2:5", "invalid type"),
        ("[buffers]\nspk = 9999999999\n", "cfg.toml:2:7", "9999999999"),
        ("q = 64\n[units]\nlanes = 32\nnot_a_unit = 1\n", "cfg.toml:4:1", "not_a_unit"),
    ];
    for (text, at, what) in cases {
        write(d.path(), "cfg.toml", text.as_bytes());
        let r = phic(
            d.path(),
            [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--hw"), OsStr::new("cfg.toml")],
        );
        assert_eq!(r.code, Some(1), "{text:?}: {}", r.describe());
        assert!(r.stderr.starts_with("error: bad hardware configuration"), "{text:?}: {}", r.describe());
        assert!(r.stderr.contains(at), "{text:?}: the diagnostic must point at {at}: {}", r.describe());
        assert!(r.stderr.contains(what), "{text:?}: the diagnostic must say {what}: {}", r.describe());
        assert!(r.stderr.contains("help:"), "{text:?}: {}", r.describe());
        assert!(!d.path().join("x.phibin").exists(), "{text:?}: no program is written");
    }
    // A value that parses but does not validate: named, with the file.
    write(d.path(), "cfg.toml", b"m = 0\n");
    let r = phic(
        d.path(),
        [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--hw"), OsStr::new("cfg.toml")],
    );
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("m = 0") && r.stderr.contains("cfg.toml"), "{}", r.describe());
    // A missing file.
    let r = phic(
        d.path(),
        [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--hw"), OsStr::new("nope.toml")],
    );
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("nope.toml"), "{}", r.describe());
    assert!(!d.path().join("x.phibin").exists());
}

#[test]
fn a_hardware_configuration_sets_the_programs_hardware() {
    let d = tmp();
    let cfg = write(d.path(), "cfg.toml", b"# a smaller tile\nm = 128\nq = 64\n");
    let p = compile(d.path(), "small.phibin", &["--hw", cfg.to_str().unwrap()]);
    let bin = phibin::read_file(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bin.meta.hw.m, 128);
    assert_eq!(bin.meta.hw.q, 64);
    let default = HwConfig::default();
    assert_eq!(bin.meta.hw, HwConfig { m: 128, q: 64, ..default }, "the other keys keep their defaults");
    assert!(bin.meta.layers.iter().all(|l| l.q <= 64), "at most q = 64 patterns per partition");
    // It still computes the integer model's spikes.
    let y = d.path().join("y.npy");
    emu(
        d.path(),
        [p.as_os_str(), OsStr::new("--input"), example("test.npy").as_os_str(), OsStr::new("-o"), y.as_os_str()],
    )
    .ok();
    let reference = interpreted_reference();
    assert!(read_npy(&y).unwrap() == *reference, "m = 128, q = 64: the spikes differ from the integer interpreter");
}

#[test]
fn print_hw_config_is_accepted_by_hw() {
    let d = tmp();
    let r = phic(d.path(), ["--print-hw-config"]);
    r.ok();
    assert_eq!(HwConfig::from_toml(&r.stdout).unwrap_or_else(|e| panic!("{e:?}")), HwConfig::default());
    let cfg = write(d.path(), "hw.toml", r.stdout.as_bytes());
    let p = compile(d.path(), "m.phibin", &["--hw", cfg.to_str().unwrap()]);
    assert_eq!(std::fs::read(p).unwrap(), compiled(), "the printed defaults compile the same program");
    // A modified printed configuration round-trips too.
    let edited = r.stdout.replacen("m = 256", "m = 128", 1);
    assert_ne!(edited, r.stdout, "the printed configuration has a line `m = 256`");
    let cfg = write(d.path(), "hw2.toml", edited.as_bytes());
    let p = compile(d.path(), "m2.phibin", &["--hw", cfg.to_str().unwrap()]);
    assert_eq!(phibin::read_file(p).unwrap().meta.hw.m, 128);
}

// ---------------------------------------------------------------------------------------------
// 4. --emulate

#[test]
fn emulate_reports_accuracy_and_compares_the_targets() {
    let d = tmp();
    let r = phic(d.path(), [model().as_os_str(), OsStr::new("--emulate"), OsStr::new("-q")]);
    r.ok();
    assert!(
        r.stdout.lines().any(|l| l.trim() == "accuracy     95.75% (383/400)"),
        "the integer model's accuracy on test.npy: {}",
        r.describe()
    );
    assert!(r.stdout.contains("on the phi accelerator: 400 samples"), "{}", r.describe());
    assert!(r.stdout.contains("| target | accuracy | cycles |"), "{}", r.describe());
    for target in ["phi", "bit-sparse", "dense"] {
        let row =
            table_row(&r.stdout, target).unwrap_or_else(|| panic!("no comparison row {target}: {}", r.describe()));
        assert!(row.contains("| 95.75% |"), "{target}: every target computes the same spikes: {row}");
    }
    for layer in ["fc1_weight", "fc2_weight", "fc3_weight"] {
        assert!(table_row(&r.stdout, layer).is_some(), "no per-layer row {layer}: {}", r.describe());
    }
    assert!(!r.stderr.contains("warning"), "{}", r.describe());
}

// ---------------------------------------------------------------------------------------------
// 5. phi-emu

/// `phic model.snn --interpret --quantized --input test.npy -o ref.npy` (once per process).
fn interpreted_reference() -> &'static NpyArray {
    static REF: OnceLock<NpyArray> = OnceLock::new();
    REF.get_or_init(|| {
        let d = tmp();
        let r = phic(
            d.path(),
            [
                model().as_os_str(),
                OsStr::new("--interpret"),
                OsStr::new("--quantized"),
                OsStr::new("--input"),
                example("test.npy").as_os_str(),
                OsStr::new("-o"),
                OsStr::new("ref.npy"),
            ],
        );
        r.ok();
        read_npy(&d.path().join("ref.npy")).unwrap()
    })
}

#[test]
fn phi_emu_writes_outputs_stats_and_trace() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let r = emu(
        d.path(),
        [
            p.as_os_str(),
            OsStr::new("--input"),
            example("test.npy").as_os_str(),
            OsStr::new("--labels"),
            example("test_labels.npy").as_os_str(),
            OsStr::new("-o"),
            OsStr::new("y.npy"),
            OsStr::new("--stats"),
            OsStr::new("s.json"),
            OsStr::new("--trace"),
            OsStr::new("t.json"),
        ],
    );
    r.ok();
    assert!(r.stdout.lines().any(|l| l.trim() == "accuracy     95.75% (383/400)"), "{}", r.describe());

    // Outputs: the integer interpreter's spikes, bit for bit.
    let y = read_npy(&d.path().join("y.npy")).unwrap();
    assert_eq!(y.dtype(), "uint8");
    assert_eq!(y.shape(), [400, 8, 10]);
    assert!(y == *interpreted_reference(), "phi-emu's spikes differ from `phic --interpret --quantized`");

    // Statistics.
    let s = Json::parse(&std::fs::read_to_string(d.path().join("s.json")).unwrap()).expect("--stats is JSON");
    assert!(s.at("cycles").u64() > 0);
    assert!(s.at("energy_pj").f64() > 0.0);
    assert_eq!(s.at("accuracy").f64(), 0.9575);
    let ops = |o: &Json| {
        (o.at("dense").u64(), o.at("bit_sparse").u64(), o.at("l1").u64(), o.at("l2").u64(), o.at("phi").u64())
    };
    let (dense, bs, l1, l2, phi) = ops(s.at("ops"));
    assert_eq!(phi, l1 + l2, "ops.phi = ops.l1 + ops.l2");
    assert!(bs >= phi, "Phi does no more row operations than bit sparsity ({phi} vs {bs})");
    assert!(dense > bs && l1 > 0 && l2 > 0);
    assert_eq!(dense, 400 * 8 * (64 * 256 + 256 * 256 + 256 * 10), "ops.dense = N·T·Σ K·N");
    let layers = s.at("layers").arr();
    assert_eq!(layers.len(), 3);
    let mut sum = (0, 0, 0, 0, 0);
    for (l, name) in layers.iter().zip(["fc1_weight", "fc2_weight", "fc3_weight"]) {
        assert_eq!(l.at("name").str(), Some(name));
        assert_eq!(l.at("mode").str(), Some("phi"));
        let (a, b, c, e, f) = ops(l.at("ops"));
        assert_eq!(f, c + e, "{name}: phi = l1 + l2");
        assert!(b >= f, "{name}: bit-sparse ≥ phi");
        sum = (sum.0 + a, sum.1 + b, sum.2 + c, sum.3 + e, sum.4 + f);
        assert!(l.at("cycles").u64() > 0);
    }
    assert_eq!(sum, (dense, bs, l1, l2, phi), "the totals are the sums over the layers");

    // Trace: Chrome trace format, complete ("X") events on the load/compute/store threads.
    let t = Json::parse(&std::fs::read_to_string(d.path().join("t.json")).unwrap()).expect("--trace is JSON");
    let events = t.at("traceEvents").arr();
    let complete: Vec<_> = events.iter().filter(|e| e.get("ph").and_then(Json::as_str) == Some("X")).collect();
    assert!(complete.len() > 100, "{} complete events", complete.len());
    for e in &complete {
        assert!(e.at("name").str().is_some_and(|n| !n.is_empty()));
        assert!(e.at("ts").f64() >= 0.0 && e.at("dur").f64() > 0.0, "{e:?}");
        assert!(e.at("tid").u64() < 3, "{e:?}");
    }
    for name in ["match", "l1.acc", "l2.acc", "lif", "load", "store"] {
        assert!(complete.iter().any(|e| e.at("name").str() == Some(name)), "no `{name}` event in the trace");
    }
}

#[test]
fn phi_emu_runs_the_embedded_sample_without_input() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let r = emu(d.path(), [&p]);
    r.ok();
    let n = phi_runtime::npy::parse_npy(program().sample.as_deref().unwrap()).unwrap().shape()[0];
    assert!(r.stdout.contains(&format!("digits_mlp on the phi accelerator: {n} samples")), "{}", r.describe());
    let cycles = r.stdout.lines().find(|l| l.trim_start().starts_with("cycles")).expect("a cycles line");
    assert!(cycles.chars().any(|c| c.is_ascii_digit() && c != '0'), "{cycles}");
    assert!(!r.stdout.contains("accuracy"), "no labels, no accuracy: {}", r.describe());
}

#[test]
fn phi_emu_compares_with_a_baseline() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let b = write(d.path(), "model.bit-sparse.phibin", compiled_bit_sparse());
    let r = emu(
        d.path(),
        [
            p.as_os_str(),
            OsStr::new("--input"),
            example("test.npy").as_os_str(),
            OsStr::new("--labels"),
            example("test_labels.npy").as_os_str(),
            OsStr::new("--baseline"),
            b.as_os_str(),
        ],
    );
    r.ok();
    assert!(r.stdout.contains("| target | accuracy |"), "{}", r.describe());
    for target in ["phi", "bit-sparse"] {
        let row = table_row(&r.stdout, target).unwrap_or_else(|| panic!("no row {target}: {}", r.describe()));
        assert!(row.contains("95.75%"), "{row}");
    }
    assert!(table_row(&r.stdout, "dense").is_none());
    assert_eq!(r.stderr, "", "the same spikes: no warning");
}

// ---------------------------------------------------------------------------------------------
// 6. Malformed binaries

/// Runs phi-emu on `bytes` written as `name` and expects a one-line error naming the file.
fn refused(name: &str, bytes: &[u8], mentions: &[&str]) -> Run {
    let d = tmp();
    write(d.path(), name, bytes);
    let r = emu(d.path(), [name]);
    let mut all = vec![name];
    all.extend_from_slice(mentions);
    r.error(&all);
    r
}

#[test]
fn truncated_binaries_are_refused() {
    let full = compiled();
    let n = full.len();
    let meta = section_range(full, ".phi.meta");
    let code = section_range(full, ".phi.code");
    for len in [0, 1, 4, 10, 63, 64, 65, meta.start + 5, code.end - 1, n / 2, n - 64, n - 16, n - 1] {
        let r = refused(&format!("cut{len}.phibin"), &full[..len], &[]);
        assert!(
            r.stderr.contains("truncated") || r.stderr.contains("not a .phibin file"),
            "a file cut to {len} bytes: {}",
            r.describe()
        );
    }
}

#[test]
fn a_flipped_byte_in_a_section_is_a_checksum_mismatch() {
    let full = compiled();
    for s in SECTIONS {
        let range = section_range(full, s);
        for at in [range.start, range.start + range.len() / 2, range.end - 1] {
            let mut b = full.to_vec();
            b[at] ^= 0x5a;
            let r = refused("flipped.phibin", &b, &["checksum mismatch"]);
            assert!(r.stderr.contains("corrupted"), "{s} byte {at}: {}", r.describe());
        }
    }
    // The check section itself (found by its magic; `read_sections` does not return it).
    let check = full.windows(8).position(|w| w == phibin::MAGIC).expect("the .phi.check magic");
    for (at, what) in [(check, "magic"), (check + 8, "version"), (check + 12, "reserved"), (check + 40, "checksum")] {
        let mut b = full.to_vec();
        b[at] ^= 0x01;
        let r = refused("flipped.phibin", &b, &[]);
        assert!(r.stderr.contains("checksum") || r.stderr.contains(what), "{what}: {}", r.describe());
    }
}

#[test]
fn flipped_bytes_anywhere_are_an_error_or_change_nothing() {
    let d = tmp();
    let good = write(d.path(), "good.phibin", compiled());
    let expected = emu(d.path(), [&good]);
    expected.ok();
    let full = compiled();
    // The ELF header, the section header table at the end, and points spread over the file.
    let mut offsets: Vec<usize> = (0..64).step_by(3).collect();
    offsets.extend((full.len() - 7 * 64..full.len()).step_by(13));
    offsets.extend((1..24).map(|i| full.len() * i / 24));
    for at in offsets {
        let mut b = full.to_vec();
        b[at] ^= 0x80;
        write(d.path(), "f.phibin", &b);
        let r = emu(d.path(), ["f.phibin"]);
        match r.code {
            Some(0) => assert_eq!(r.stdout, expected.stdout, "byte {at}: accepted, so it must be the same program"),
            _ => {
                r.error(&["f.phibin"]);
            }
        }
    }
}

#[test]
fn a_file_of_another_format_version_is_refused_with_the_versions() {
    let full = compiled();
    let raw = phibin::read_sections(full).unwrap();
    let bytes = phibin::write_sections(FORMAT_VERSION + 1, &raw.sections).unwrap();
    let r = refused(
        "v2.phibin",
        &bytes,
        &[&format!("unsupported .phibin format version {}", FORMAT_VERSION + 1), &format!("version {FORMAT_VERSION}")],
    );
    assert!(!r.stderr.contains("checksum"), "a newer version is not reported as corruption: {}", r.describe());
    // Version 0 likewise.
    let bytes = phibin::write_sections(0, &raw.sections).unwrap();
    refused("v0.phibin", &bytes, &["unsupported .phibin format version 0"]);
}

#[test]
fn garbage_text_directories_and_missing_files_are_refused() {
    // Deterministic pseudo-random bytes (xorshift), with and without the ELF magic in front.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    refused("garbage.phibin", &garbage, &["not a .phibin file"]);
    garbage[..4].copy_from_slice(b"\x7fELF");
    refused("elfish.phibin", &garbage, &[]);
    garbage[4] = 2; // ELFCLASS64
    garbage[5] = 1; // little endian
    garbage[6] = 1;
    refused("elf64.phibin", &garbage, &[]);
    refused("text.phibin", b"this is not a program\n", &["not a .phibin file", "ELF magic"]);
    refused("empty.phibin", b"", &[]);

    let d = tmp();
    emu(d.path(), ["missing.phibin"]).error(&["missing.phibin", "cannot read"]);
    std::fs::create_dir(d.path().join("adir.phibin")).unwrap();
    emu(d.path(), ["adir.phibin"]).error(&["adir.phibin"]);
    // A foreign ELF file (the test binary itself, if it is ELF).
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    if me.starts_with(b"\x7fELF") {
        refused("foreign.phibin", &me, &["not a .phibin file"]);
    }
}

#[test]
fn containers_with_bad_contents_are_refused() {
    let full = compiled();
    let raw = phibin::read_sections(full).unwrap();
    let replace = |name: &str, data: &[u8]| {
        let sections: Vec<(&str, &[u8])> =
            raw.sections.iter().map(|&(n, d)| if n == name { (n, data) } else { (n, d) }).collect();
        phibin::write_sections(FORMAT_VERSION, &sections).unwrap()
    };
    // Code that is not a whole number of instructions.
    let code = raw.section(".phi.code").unwrap();
    refused("odd.phibin", &replace(".phi.code", &code[..code.len() - 3]), &[]);
    // Metadata that is not JSON, or JSON of the wrong shape.
    refused("notjson.phibin", &replace(".phi.meta", b"{ not json"), &[]);
    refused("wrongjson.phibin", &replace(".phi.meta", b"[1, 2, 3]"), &[]);
    // A region of the wrong size.
    let w = raw.section(".phi.weights").unwrap();
    refused("short-region.phibin", &replace(".phi.weights", &w[..w.len() - 1]), &[".phi.weights"]);
    // A missing section.
    let without: Vec<(&str, &[u8])> = raw.sections.iter().copied().filter(|(n, _)| *n != ".phi.pwp").collect();
    refused("no-pwp.phibin", &phibin::write_sections(FORMAT_VERSION, &without).unwrap(), &[".phi.pwp"]);
    let without: Vec<(&str, &[u8])> = raw.sections.iter().copied().filter(|(n, _)| *n != ".phi.code").collect();
    refused("no-code.phibin", &phibin::write_sections(FORMAT_VERSION, &without).unwrap(), &[".phi.code"]);
    // An instruction word that does not decode: its index is named.
    let mut code = code.to_vec();
    code[5 * 16] = 0x3f; // opcode 63: unknown
    refused("badop.phibin", &replace(".phi.code", &code), &["instruction 5", "opcode"]);
    // An embedded sample that is not .npy (the message names the sample, see also
    // `a_bad_embedded_sample_names_the_file`).
    let d = tmp();
    write(d.path(), "badsample.phibin", &replace(".phi.sample", b"not numpy"));
    emu(d.path(), ["badsample.phibin"]).error(&["embedded sample", ".npy"]);
}

#[test]
fn a_bad_embedded_sample_names_the_file() {
    let full = compiled();
    let raw = phibin::read_sections(full).unwrap();
    let sections: Vec<(&str, &[u8])> =
        raw.sections.iter().map(|&(n, d)| if n == ".phi.sample" { (n, &b"not numpy"[..]) } else { (n, d) }).collect();
    refused("badsample.phibin", &phibin::write_sections(FORMAT_VERSION, &sections).unwrap(), &["sample"]);
}

// ---------------------------------------------------------------------------------------------
// Well-formed binaries whose code or metadata is wrong

/// Index of the first instruction matching `f`.
fn first(code: &[Inst], f: impl Fn(&Inst) -> bool) -> usize {
    code.iter().position(f).expect("the compiled example has such an instruction")
}

#[test]
fn a_load_past_its_buffer_traps_at_its_index() {
    let bin = program();
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::Load { dma, .. } if dma.buf == Buffer::Wgt && dma.rows > 0));
    assert!(i > 0);
    let lines = (bin.meta.hw.buffers.size(Buffer::Wgt) / 16) as u16;
    let Inst::Load { dma, .. } = &mut code[i] else { unreachable!() };
    dma.sram = lines - 1; // the last line: the tile runs past the end
    refused("load.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}"), "wgt"]);

    // Rows × bytes past the buffer from line 0.
    let mut code = decoded(&bin);
    let Inst::Load { dma, .. } = &mut code[i] else { unreachable!() };
    dma.sram = 0;
    dma.rows = u16::MAX;
    dma.row_bytes = u16::MAX;
    refused("load2.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}")]);

    // A DRAM address past the image.
    let mut code = decoded(&bin);
    let Inst::Load { dma, .. } = &mut code[i] else { unreachable!() };
    dma.dram = bin.meta.dram_bytes - 1;
    refused("load3.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}"), "DRAM"]);
}

#[test]
fn a_match_at_the_end_of_the_spike_buffer_traps_at_its_index() {
    let bin = program();
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::Match { rows, .. } if *rows > 1));
    let lines = (bin.meta.hw.buffers.size(Buffer::Spk) / 16) as u16;
    let Inst::Match { spk, .. } = &mut code[i] else { unreachable!() };
    *spk = lines - 1;
    refused("match.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}"), "spk"]);

    // Partitions past the layer's.
    let mut code = decoded(&bin);
    let Inst::Match { parts, .. } = &mut code[i] else { unreachable!() };
    *parts = 255;
    refused("match2.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}")]);
}

#[test]
fn other_bad_instructions_trap_at_their_index() {
    let bin = program();
    // A layer that does not exist.
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::Gather { .. }));
    let Inst::Gather { layer, .. } = &mut code[i] else { unreachable!() };
    *layer = 200;
    refused("layer.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}"), "layer 200"]);

    // Level 1 reading past the PWP buffer.
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::L1Acc { .. }));
    let lines = (bin.meta.hw.buffers.size(Buffer::Pwp) / 16) as u16;
    let Inst::L1Acc { pwp, .. } = &mut code[i] else { unreachable!() };
    *pwp = lines - 1;
    refused("l1.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}")]);

    // A LIF whose output tile runs past the out buffer.
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::Lif { .. }));
    let lines = (bin.meta.hw.buffers.size(Buffer::Out) / 16) as u16;
    let Inst::Lif { out, .. } = &mut code[i] else { unreachable!() };
    *out = lines - 1;
    refused("lif.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}")]);

    // A store past the DRAM image.
    let mut code = decoded(&bin);
    let i = first(&code, |i| matches!(i, Inst::Store { .. }));
    let Inst::Store { dma, .. } = &mut code[i] else { unreachable!() };
    dma.dram = u32::MAX - 4;
    refused("store.phibin", &with_code(&bin, &code), &["trap", &format!("instruction {i}")]);
}

#[test]
fn a_program_that_waits_for_a_token_never_pushed_is_an_error() {
    let bin = program();
    let wait = Inst::Sync { deps: Deps { pop_prev: true, ..Deps::default() } };
    let r = refused("deadlock.phibin", &with_code(&bin, &[wait, Inst::Halt]), &[]);
    let e = r.stderr.to_lowercase();
    assert!(e.contains("deadlock") || e.contains("token"), "{}", r.describe());
}

#[test]
fn crafted_metadata_is_an_invalid_program() {
    let d = tmp();
    let base = program();
    type Edit = fn(&mut Phibin);
    let cases: [(&str, Edit, &str); 7] = [
        ("dram_bytes = u32::MAX", |b| b.meta.dram_bytes = u32::MAX, "DRAM image"),
        ("batch 0", |b| b.meta.batch = 0, "batch"),
        ("batch u32::MAX", |b| b.meta.batch = u32::MAX, "batch"),
        ("a huge input shape", |b| b.meta.inputs[0].shape = vec![1 << 40, 1 << 20, 64], "shape"),
        ("a huge output shape", |b| b.meta.outputs[0].shape = vec![usize::MAX / 2, 10], "shape"),
        ("an empty output shape", |b| b.meta.outputs[0].shape = vec![], "shape"),
        ("a huge buffer", |b| b.meta.hw.buffers.psum = u32::MAX, "hardware configuration"),
    ];
    let time = Path::new("/usr/bin/time");
    let time = time.is_file() && Command::new(time).args(["-v", "true"]).output().is_ok_and(|o| o.status.success());
    if !time {
        eprintln!("note: /usr/bin/time -v is not available: the peak memory is not checked");
    }
    for (what, edit, mentions) in cases {
        let mut bin = base.clone();
        edit(&mut bin);
        let bytes = bin.to_bytes().unwrap_or_else(|e| panic!("{what}: {e}"));
        write(d.path(), "crafted.phibin", &bytes);
        let r = emu(d.path(), ["crafted.phibin"]);
        r.error(&["crafted.phibin", "invalid program", mentions]);
        if time {
            // The same run under `time -v`: refused before anything big is allocated.
            let out = Command::new("/usr/bin/time")
                .args(["-v", EMU, "crafted.phibin"])
                .current_dir(d.path())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{what}");
            let err = String::from_utf8_lossy(&out.stderr);
            let kb: u64 = err
                .lines()
                .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no peak memory in the output of time -v:\n{err}"));
            assert!(kb < 256 * 1024, "{what}: phi-emu used {kb} KiB before refusing the program");
        }
    }
}

/// A port element kind other than `i1` and `i32` (not a `PortElem`, so crafted in the JSON):
/// refused when the metadata is read, with the kind found and the kinds allowed.
#[test]
fn an_unknown_port_element_kind_is_invalid_metadata() {
    let full = compiled();
    let raw = phibin::read_sections(full).unwrap();
    let meta = std::str::from_utf8(raw.section(".phi.meta").unwrap()).unwrap();
    let key = "\"elem\": \"";
    let at = meta.find(key).expect("the metadata has a port") + key.len();
    let end = at + meta[at..].find('"').expect("a quoted element kind");
    let crafted = format!("{}f64{}", &meta[..at], &meta[end..]);
    let sections: Vec<(&str, &[u8])> =
        raw.sections.iter().map(|&(n, d)| if n == ".phi.meta" { (n, crafted.as_bytes()) } else { (n, d) }).collect();
    refused(
        "elem.phibin",
        &phibin::write_sections(FORMAT_VERSION, &sections).unwrap(),
        &[".phi.meta", "not valid program metadata", "`f64`", "`i1` or `i32`"],
    );
}

#[test]
fn a_region_outside_the_dram_image_is_an_invalid_program() {
    let mut bin = program();
    bin.meta.regions[0].dram = bin.meta.dram_bytes;
    refused("region.phibin", &bin.to_bytes().unwrap(), &["invalid program", &bin.meta.regions[0].section.clone()]);
}

/// A layer table entry with an absurd pattern count (`q`), and a `pwp.fetch` of zero columns
/// (so that the PWP tile it checks is empty): the emulator allocates `parts × q` flags.
#[test]
fn a_crafted_pattern_count_is_an_error_not_an_allocation() {
    let mut bin = program();
    let code = decoded(&bin);
    let fetch = code[first(&code, |i| matches!(i, Inst::PwpFetch { .. }))];
    let Inst::PwpFetch { deps, layer, idx, pwp, .. } = fetch else { unreachable!() };
    let l = &mut bin.meta.layers[layer as usize];
    l.q = u32::MAX;
    l.k_cols = 255 * l.k;
    let crafted = Inst::PwpFetch { deps, layer, rows: 1, part0: 0, parts: 255, col0: 0, cols: 0, idx, pwp };
    let bytes = with_code(&bin, &[crafted, Inst::Halt]);
    refused("q.phibin", &bytes, &[]);
}

// ---------------------------------------------------------------------------------------------
// 7. Input errors

#[test]
fn inputs_of_the_wrong_shape_or_type_are_refused() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let cases: [(&str, &[usize], &[&str]); 4] = [
        ("narrow.npy", &[3, 8, 63], &["shape", "[3, 8, 63]", "[3, 8, 64]"]),
        ("short.npy", &[3, 7, 64], &["shape", "[3, 7, 64]"]),
        ("flat.npy", &[3, 512], &["shape"]),
        ("deep.npy", &[3, 8, 64, 1], &["shape"]),
    ];
    for (file, shape, mentions) in cases {
        write_npy_u8(&d.path().join(file), shape, vec![0; shape.iter().product()]);
        emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new(file)]).error(mentions);
    }
    // Values that are no spikes.
    let mut twos = vec![0u8; 2 * 8 * 64];
    twos[7] = 2;
    write_npy_u8(&d.path().join("twos.npy"), &[2, 8, 64], twos);
    emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("twos.npy")]).error(&["spike", "0 or 1"]);
    let halves = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(&[2, 8, 64]), 0.5);
    ndarray_npy::write_npy(d.path().join("halves.npy"), &halves).unwrap();
    emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("halves.npy")]).error(&["0.5"]);
    // A dtype .npy support does not read, a file that is not .npy, a missing file.
    let u16s = ndarray::ArrayD::<u16>::zeros(ndarray::IxDyn(&[2, 8, 64]));
    ndarray_npy::write_npy(d.path().join("u16.npy"), &u16s).unwrap();
    emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("u16.npy")]).error(&["u16.npy"]);
    write(d.path(), "junk.npy", b"junk");
    emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("junk.npy")]).error(&["junk.npy", ".npy"]);
    emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("none.npy")]).error(&["none.npy"]);
    assert!(!d.path().join("y.npy").exists());
}

#[test]
fn labels_that_do_not_fit_are_refused() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let test = example("test.npy");
    let labels = |file: &str, v: Vec<i64>, shape: &[usize]| {
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).unwrap();
        ndarray_npy::write_npy(d.path().join(file), &a).unwrap();
    };
    labels("three.npy", vec![1, 2, 3], &[3]);
    let r = emu(
        d.path(),
        [p.as_os_str(), OsStr::new("--input"), test.as_os_str(), OsStr::new("--labels"), OsStr::new("three.npy")],
    );
    r.error(&["3 labels", "400 samples"]);
    labels("many.npy", vec![0; 401], &[401]);
    let r = emu(
        d.path(),
        [p.as_os_str(), OsStr::new("--input"), test.as_os_str(), OsStr::new("--labels"), OsStr::new("many.npy")],
    );
    r.error(&["401 labels", "400 samples"]);
    labels("twod.npy", vec![0; 400], &[400, 1]);
    let r = emu(
        d.path(),
        [p.as_os_str(), OsStr::new("--input"), test.as_os_str(), OsStr::new("--labels"), OsStr::new("twod.npy")],
    );
    r.error(&["twod.npy", "1-D"]);
    labels("negative.npy", vec![-1; 400], &[400]);
    let r = emu(
        d.path(),
        [p.as_os_str(), OsStr::new("--input"), test.as_os_str(), OsStr::new("--labels"), OsStr::new("negative.npy")],
    );
    r.error(&["negative.npy", "-1"]);
    // Labels for the embedded sample must match its count too.
    let r = emu(d.path(), [p.as_os_str(), OsStr::new("--labels"), OsStr::new("three.npy")]);
    r.error(&["3 labels"]);
}

#[test]
fn usage_errors_exit_with_status_2() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    for args in [vec![], vec!["model.phibin", "--bogus"], vec!["model.phibin", "--input"]] {
        let r = emu(d.path(), &args);
        assert_eq!(r.code, Some(2), "phi-emu {args:?}: {}", r.describe());
        assert!(r.stderr.starts_with("error:"), "{}", r.describe());
    }
    let r = phic(d.path(), [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--quantized")]);
    assert_eq!(r.code, Some(2), "compiling with --quantized: {}", r.describe());
    let r = phic(
        d.path(),
        [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--target"), OsStr::new("tpu")],
    );
    assert_eq!(r.code, Some(2), "{}", r.describe());
    assert!(!d.path().join("x.phibin").exists());
    drop(p);
}

#[test]
fn batch_zero_is_a_usage_error() {
    let d = tmp();
    let r = phic(
        d.path(),
        [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--batch"), OsStr::new("0")],
    );
    assert_eq!(r.code, Some(2), "{}", r.describe());
}

#[test]
fn a_scalar_input_is_reported_clearly() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    write_npy_u8(&d.path().join("scalar.npy"), &[], vec![1]);
    let r = emu(d.path(), [p.as_os_str(), OsStr::new("--input"), OsStr::new("scalar.npy")]);
    r.error(&["shape"]);
    assert!(!r.stderr.contains("[0, 8, 64]"), "{}", r.describe());
}

#[test]
fn operation_counts_scale_with_the_samples() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    let NpyArray::U8(x) = read_npy(&example("test.npy")).unwrap() else { panic!("test.npy is uint8") };
    let one = x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..1)).to_owned();
    let many = ndarray::concatenate(ndarray::Axis(0), &vec![one.view(); 110]).unwrap();
    ndarray_npy::write_npy(d.path().join("one.npy"), &one).unwrap();
    ndarray_npy::write_npy(d.path().join("many.npy"), &many).unwrap();
    let stats = |input: &str, out: &str| {
        emu(
            d.path(),
            [p.as_os_str(), OsStr::new("--input"), OsStr::new(input), OsStr::new("--stats"), OsStr::new(out)],
        )
        .ok();
        Json::parse(&std::fs::read_to_string(d.path().join(out)).unwrap()).unwrap()
    };
    let (s1, s110) = (stats("one.npy", "one.json"), stats("many.npy", "many.json"));
    for key in ["dense", "bit_sparse", "l1", "l2", "phi"] {
        for (i, (a, b)) in s1.at("layers").arr().iter().zip(s110.at("layers").arr()).enumerate() {
            let (a, b) = (a.at("ops").at(key).u64(), b.at("ops").at(key).u64());
            assert_eq!(110 * a, b, "layer {i} ops.{key}: one sample {a}, 110 copies of it {b}");
        }
    }
}

/// The two-layer model of the lit tests (`tests/lit/passes/Inputs`), whose biases make its
/// neurons fire on an all-zero input, copied into `dir`.
fn tiny_model(dir: &Path) -> PathBuf {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("lit/passes/Inputs");
    for f in ["tiny_calib.npy", "tiny_w1.npy", "tiny_w2.npy"] {
        std::fs::copy(inputs.join(f), dir.join(f)).unwrap();
    }
    let text = r#"<ir_version: 9, opset_import: ["" : 17, "snn" : 1], metadata_props: ["phi.calibration": "tiny_calib.npy"]>
tiny (uint8[N, 4, 32] x) => (uint8[N, 4, 4] y)
<float[32, 8] w1 = ["location": "tiny_w1.npy"], float[8] b1 = {0.1, 0.2, 0.0, -0.1, 0.3, 0.0, 0.1, 0.2},
 float[8, 4] w2 = ["location": "tiny_w2.npy"]>
{
  h1 = Gemm(x, w1, b1)
  s1 = snn.LIF<beta = 0.9, threshold = 1.0>(h1)
  h2 = MatMul(s1, w2)
  y = snn.LIF<beta = 0.9, threshold = 0.5>(h2)
}
"#;
    write(dir, "tiny.snn", text.as_bytes())
}

#[test]
fn operation_counts_do_not_include_the_padding_of_a_batch() {
    let d = tmp();
    let model = tiny_model(d.path());
    let r = phic(
        d.path(),
        [
            model.as_os_str(),
            OsStr::new("-o"),
            OsStr::new("tiny.phibin"),
            OsStr::new("--batch"),
            OsStr::new("8"),
            OsStr::new("-q"),
        ],
    );
    r.ok();
    let NpyArray::U8(x) = read_npy(&d.path().join("tiny_calib.npy")).unwrap() else { panic!("uint8 spikes") };
    let one = x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..1)).to_owned();
    let eight = ndarray::concatenate(ndarray::Axis(0), &vec![one.view(); 8]).unwrap();
    ndarray_npy::write_npy(d.path().join("one.npy"), &one).unwrap();
    ndarray_npy::write_npy(d.path().join("eight.npy"), &eight).unwrap();
    let stats = |input: &str, out: &str| {
        emu(
            d.path(),
            [
                OsStr::new("tiny.phibin"),
                OsStr::new("--input"),
                OsStr::new(input),
                OsStr::new("--stats"),
                OsStr::new(out),
            ],
        )
        .ok();
        Json::parse(&std::fs::read_to_string(d.path().join(out)).unwrap()).unwrap()
    };
    let (s1, s8) = (stats("one.npy", "one.json"), stats("eight.npy", "eight.json"));
    for (i, (a, b)) in s1.at("layers").arr().iter().zip(s8.at("layers").arr()).enumerate() {
        for key in ["dense", "bit_sparse", "l1", "l2", "phi"] {
            let (a, b) = (a.at("ops").at(key).u64(), b.at("ops").at(key).u64());
            assert_eq!(8 * a, b, "layer {i} ops.{key}: one sample {a}, 8 copies of it {b}");
        }
    }
}

#[test]
fn a_baseline_that_computes_other_spikes_is_a_warning_and_a_foreign_one_an_error() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    // The bit-sparse program with an output layer that never fires.
    let mut silent = phibin::read(compiled_bit_sparse()).unwrap();
    let last = silent.meta.layers.last_mut().unwrap();
    last.neuron.as_mut().expect("the output layer has a neuron").threshold = i32::MAX;
    write(d.path(), "silent.phibin", &silent.to_bytes().unwrap());
    let r = emu(d.path(), [p.as_os_str(), OsStr::new("--baseline"), OsStr::new("silent.phibin")]);
    r.ok();
    assert!(table_row(&r.stdout, "bit-sparse").is_some(), "{}", r.describe());
    assert!(
        r.stderr.starts_with("warning: ")
            && r.stderr.contains("silent.phibin")
            && r.stderr.contains("different spikes"),
        "{}",
        r.describe()
    );
    // A program for inputs of another shape.
    let mut foreign = phibin::read(compiled_bit_sparse()).unwrap();
    foreign.meta.inputs[0].shape = vec![8, 32];
    write(d.path(), "foreign.phibin", &foreign.to_bytes().unwrap());
    let r = emu(d.path(), [p.as_os_str(), OsStr::new("--baseline"), OsStr::new("foreign.phibin")]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    let err = r.stderr.trim_end();
    assert!(err.starts_with("error: ") && err.lines().count() == 1, "{}", r.describe());
    assert!(err.contains("foreign.phibin") && err.contains("[110, 8, 32]"), "{}", r.describe());
    // A baseline that is not a program.
    write(d.path(), "junk.phibin", b"junk");
    let r = emu(d.path(), [p.as_os_str(), OsStr::new("--baseline"), OsStr::new("junk.phibin")]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert!(
        r.stderr.trim_end().ends_with("ELF magic number 7f 45 4c 46 (\"\\x7fELF\")")
            && r.stderr.contains("junk.phibin")
    );
}

#[test]
fn output_files_that_cannot_be_written_are_an_error() {
    let d = tmp();
    let p = write(d.path(), "model.phibin", compiled());
    for opt in ["-o", "--stats", "--trace"] {
        let r = emu(d.path(), [p.as_os_str(), OsStr::new(opt), OsStr::new("no/such/dir/out")]);
        r.error(&["cannot write", "no/such/dir/out"]);
    }
    let r =
        phic(d.path(), [model().as_os_str(), OsStr::new("-o"), OsStr::new("no/such/dir/m.phibin"), OsStr::new("-q")]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert!(r.stderr.contains("no/such/dir/m.phibin"), "{}", r.describe());
}

#[test]
fn an_absurd_clock_is_refused_not_a_panic() {
    let d = tmp();
    // Through phic --hw: either phic refuses the configuration, or phi-emu runs or refuses it.
    write(d.path(), "clock.toml", b"clock_mhz = 1e300\n");
    let r = phic(
        d.path(),
        [
            model().as_os_str(),
            OsStr::new("-o"),
            OsStr::new("c.phibin"),
            OsStr::new("--hw"),
            OsStr::new("clock.toml"),
            OsStr::new("-q"),
        ],
    );
    if r.code == Some(0) {
        let r = emu(d.path(), ["c.phibin"]);
        assert!(matches!(r.code, Some(0 | 1)), "phi-emu crashed: {}", r.describe());
    } else {
        assert_eq!(r.code, Some(1), "{}", r.describe());
    }
    // Through a crafted binary.
    let mut bin = program();
    bin.meta.hw.clock_mhz = 1e300;
    write(d.path(), "crafted.phibin", &bin.to_bytes().unwrap());
    let r = emu(d.path(), ["crafted.phibin"]);
    assert!(matches!(r.code, Some(0 | 1)), "phi-emu crashed: {}", r.describe());
}

#[test]
fn negative_energy_constants_are_refused() {
    let d = tmp();
    for (text, key) in [
        ("[energy]\nadd32 = -1.0\n", "add32"),
        ("[energy]\nstatic_mw = -100.0\n", "static_mw"),
        ("[dram]\npj_per_bit = -5.0\n", "pj_per_bit"),
    ] {
        write(d.path(), "cfg.toml", text.as_bytes());
        let r = phic(
            d.path(),
            [model().as_os_str(), OsStr::new("-o"), OsStr::new("x.phibin"), OsStr::new("--hw"), OsStr::new("cfg.toml")],
        );
        assert_eq!(r.code, Some(1), "{text:?}: {}", r.describe());
        assert!(r.stderr.contains(key) && r.stderr.contains("cfg.toml"), "{}", r.describe());
    }
}

/// Output into a pipe closed early (`phic … | head -1`) ends the command quietly: no panic
/// (exit status 101) and no "failed printing to stdout" on stderr.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::{Command, Stdio};
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.phibin");
    let runs: Vec<(&str, Vec<std::ffi::OsString>)> = vec![
        (PHIC, vec![model().into(), "-o".into(), out.clone().into(), "--emulate".into(), "-q".into()]),
        (PHIC, vec![model().into(), "--report-sparsity".into(), "-q".into()]),
        (PHIC, vec![model().into(), "--emit=snn".into()]),
    ];
    for (bin, args) in runs {
        let mut child =
            Command::new(bin).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
        // close the read end at once: every write the command makes fails with EPIPE
        drop(child.stdout.take());
        let done = child.wait_with_output().expect("runs");
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_ne!(done.status.code(), Some(101), "{bin} {args:?} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "{bin} {args:?}: {stderr}");
    }
}
