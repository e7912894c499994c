//! `FileCheck CHECKFILE [options]`: checks its input (stdin, or `--input-file`) against the
//! directives of CHECKFILE, as LLVM's FileCheck does (see `phi_tests::filecheck`). Exit status:
//! 0 when every directive holds, 1 when one fails (diagnostics and an annotated input dump on
//! stderr), 2 for a usage error, an unreadable file, a malformed check file or an empty input.
//! Options are also read from the `FILECHECK_OPTS` environment variable.

use std::io::Read as _;
use std::process::ExitCode;

use phi_tests::filecheck::{DumpInput, FailureKind, FileCheck, Options};

const USAGE: &str = "\
usage: FileCheck CHECKFILE [options] < INPUT

options (each also spelled with one dash, and as --name=value):
  --check-prefix P            directive prefix (repeatable; default CHECK)
  --check-prefixes A,B        several prefixes
  --comment-prefixes A,B      comment prefixes (default COM,RUN)
  --input-file F              read the input from F instead of stdin
  --match-full-lines          positive matches must match whole lines
  --strict-whitespace         do not canonicalise horizontal whitespace
  --ignore-case               case-insensitive matching
  --implicit-check-not P      check that P occurs nowhere not explicitly matched (repeatable)
  --enable-var-scope          forget non-$ variables at each CHECK-LABEL
  -D NAME=VALUE, -D#NAME=N    define a string / numeric variable
  --allow-empty               accept an empty input
  --allow-unused-prefixes     accept prefixes that have no directive
  --allow-deprecated-dag-overlap  let CHECK-DAG matches overlap
  --dump-input fail|always|never|help   when to dump the annotated input (default fail)
  --dump-input-filter all|error         which input lines the dump shows (default error)
  --dump-input-context N      lines of context around errors in the dump (default 5)
";

const DUMP_HELP: &str = "\
The input dump shows the input, line by line, with annotations below the lines:
  - L:     labels line number L of the input file
  - T:L    labels the result for a directive of type T from line L of the check file
           (T'N: its Nth result when it has several)
  - ^~~    marks a good match
  - !~~    marks a bad match: a CHECK-NOT found, a CHECK-NEXT/SAME/EMPTY on the wrong line
  - X~~    marks the search range of a directive that was not found
  - ?      marks a fuzzy 'possible intended match'
  - .      (a column of dots) marks input lines left out of the dump
";

fn parse_bool(name: &str, v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value '{other}' for --{name}")),
    }
}

enum Parsed {
    Run(Box<Options>, String, Option<String>),
    Exit(ExitCode),
}

fn parse_args(args: Vec<String>) -> Result<Parsed, String> {
    let mut opts = Options::default();
    let mut check_file = None;
    let mut input_file = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "-" || !arg.starts_with('-') {
            if check_file.replace(arg.clone()).is_some() {
                return Err(format!("too many positional arguments: '{arg}'"));
            }
            continue;
        }
        let body = arg.trim_start_matches('-');
        if let Some(def) = body.strip_prefix('D').filter(|_| !arg.starts_with("--")) {
            let def = if def.is_empty() { it.next().ok_or("-D needs NAME=VALUE")? } else { def.to_string() };
            opts.defines.push(def);
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let mut value = |inline: Option<String>| -> Result<String, String> {
            match inline {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("option --{name} needs a value")),
            }
        };
        match name {
            "help" | "h" => {
                print!("{USAGE}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "check-prefix" => opts.check_prefixes.push(value(inline)?),
            "check-prefixes" => opts.check_prefixes.extend(value(inline)?.split(',').map(String::from)),
            "comment-prefixes" => opts.comment_prefixes = value(inline)?.split(',').map(String::from).collect(),
            "input-file" => input_file = Some(value(inline)?),
            "implicit-check-not" => opts.implicit_check_not.push(value(inline)?),
            "dump-input" => {
                opts.dump_input = match value(inline)?.as_str() {
                    "fail" => DumpInput::Fail,
                    "always" => DumpInput::Always,
                    "never" => DumpInput::Never,
                    "help" => {
                        print!("{DUMP_HELP}");
                        return Ok(Parsed::Exit(ExitCode::SUCCESS));
                    }
                    other => return Err(format!("invalid value '{other}' for --dump-input")),
                }
            }
            "dump-input-filter" => {
                opts.dump_input_all = match value(inline)?.as_str() {
                    "all" => true,
                    "error" => false,
                    other => return Err(format!("invalid value '{other}' for --dump-input-filter (all, error)")),
                }
            }
            "dump-input-context" => {
                let v = value(inline)?;
                opts.dump_input_context =
                    v.parse().map_err(|_| format!("invalid value '{v}' for --dump-input-context"))?;
            }
            "match-full-lines" => opts.match_full_lines = parse_bool(name, inline.as_deref())?,
            "strict-whitespace" => opts.strict_whitespace = parse_bool(name, inline.as_deref())?,
            "ignore-case" => opts.ignore_case = parse_bool(name, inline.as_deref())?,
            "enable-var-scope" => opts.enable_var_scope = parse_bool(name, inline.as_deref())?,
            "allow-empty" => opts.allow_empty = parse_bool(name, inline.as_deref())?,
            "allow-unused-prefixes" => opts.allow_unused_prefixes = parse_bool(name, inline.as_deref())?,
            "allow-deprecated-dag-overlap" => {
                opts.allow_deprecated_dag_overlap = parse_bool(name, inline.as_deref())?;
            }
            _ => return Err(format!("unknown option '{arg}' (see --help)")),
        }
    }
    let check_file = check_file.ok_or("missing CHECKFILE (see --help)")?;
    Ok(Parsed::Run(Box::new(opts), check_file, input_file))
}

fn read(path: &str) -> std::io::Result<String> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(path)?
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn main() -> ExitCode {
    let mut args: Vec<String> =
        std::env::var("FILECHECK_OPTS").map(|s| s.split_whitespace().map(String::from).collect()).unwrap_or_default();
    args.extend(std::env::args().skip(1));
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let empty_input_error = |e: &str| e.starts_with("FileCheck error: ") && e.ends_with("is empty.");
    let (opts, check_file, input_file) = match parse_args(args) {
        Ok(Parsed::Run(o, c, i)) => (o, c, i),
        Ok(Parsed::Exit(code)) => return code,
        Err(e) => {
            eprintln!("FileCheck: {e}");
            return ExitCode::from(2);
        }
    };
    let check_text = match read(&check_file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Could not open check file '{check_file}': {e}");
            return ExitCode::from(2);
        }
    };
    let input_path = input_file.unwrap_or_else(|| "-".into());
    let input_name = if input_path == "-" { "<stdin>".to_string() } else { input_path.clone() };
    let input = match read(&input_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Could not open input file '{input_path}': {e}");
            return ExitCode::from(2);
        }
    };
    let result = FileCheck::new(&check_file, &check_text, &opts).and_then(|fc| fc.check_with_dump(&input_name, &input));
    match result {
        Ok(report) => {
            eprint!("{report}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprint!("{}", f.report);
            match f.kind {
                FailureKind::Setup => {
                    if f.errors.iter().any(|e| empty_input_error(e)) {
                        eprintln!("FileCheck command line:  {command_line}");
                    }
                    ExitCode::from(2)
                }
                FailureKind::Check => ExitCode::from(1),
            }
        }
    }
}
