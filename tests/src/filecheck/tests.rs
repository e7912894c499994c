//! Unit tests of the FileCheck: every directive with a passing and a failing case, the failure
//! messages, variables, regexes, whitespace, labels and options.

use super::*;

fn run_with(check: &str, input: &str, opts: &Options) -> Result<(), Failure> {
    FileCheck::new("t.check", check, opts)?.check("<stdin>", input)
}

fn run(check: &str, input: &str) -> Result<(), Failure> {
    run_with(check, input, &Options::default())
}

#[track_caller]
fn pass(check: &str, input: &str) {
    if let Err(f) = run(check, input) {
        panic!("expected success, got:\n{f}");
    }
}

#[track_caller]
fn fail(check: &str, input: &str) -> Failure {
    match run(check, input) {
        Ok(()) => panic!("expected failure of\n{check}\non\n{input}"),
        Err(f) => f,
    }
}

#[track_caller]
fn fail_with(check: &str, input: &str, message: &str) -> Failure {
    let f = fail(check, input);
    assert_eq!(f.kind, FailureKind::Check, "{f}");
    assert!(f.errors.iter().any(|e| e == message), "expected error {message:?}, got {:?}\n{f}", f.errors);
    f
}

#[track_caller]
fn setup_fail(check: &str, opts: &Options, message: &str) {
    match FileCheck::new("t.check", check, opts) {
        Ok(_) => panic!("expected a setup error for\n{check}"),
        Err(f) => {
            assert_eq!(f.kind, FailureKind::Setup);
            assert!(f.report.contains(message), "expected {message:?} in\n{f}");
        }
    }
}

fn prefixes(p: &[&str]) -> Options {
    Options { check_prefixes: p.iter().map(|s| s.to_string()).collect(), ..Options::default() }
}

// ----- CHECK -----

#[test]
fn check_matches_in_order() {
    pass("CHECK: one\nCHECK: three\n", "one two three\n");
    pass("// CHECK: a\n// CHECK: a\n", "a a\n");
    fail_with("CHECK: three\nCHECK: one\n", "one two three\n", "CHECK: expected string not found in input");
}

#[test]
fn check_failure_report_points_at_directive_and_input() {
    let f = fail("CHECK: hello\n// CHECK: world\n", "hello\nthere\n");
    let r = &f.report;
    assert!(
        r.starts_with("t.check:2:11: error: CHECK: expected string not found in input\n// CHECK: world\n          ^\n"),
        "{r}"
    );
    assert!(r.contains("<stdin>:1:6: note: scanning from here\nhello\n     ^\n"), "{r}");
    assert!(r.contains("<stdin>:2:2: note: possible intended match here\nthere\n ^\n"), "{r}");
    assert!(r.contains("Input file: <stdin>\nCheck file: t.check\n"), "{r}");
    assert!(r.contains("<<<<<<\n"), "{r}");
    assert!(r.contains("check:1"), "{r}");
    assert!(r.contains("X error: no match found"), "{r}");
    assert!(r.contains(">>>>>>\n"), "{r}");
}

#[test]
fn possible_intended_match() {
    let f = fail("CHECK: snn.linear\n", "a\n%0 = \"snn.lineer\"(%1)\nb\n");
    assert!(f.report.contains("<stdin>:2:7: note: possible intended match here"), "{f}");
}

#[test]
fn count() {
    pass("CHECK-COUNT-3: x\nCHECK: y", "x x\nx y\n");
    let f = fail_with("CHECK-COUNT-3: x\n", "x x\n", "CHECK-COUNT: expected string not found in input (3 out of 3)");
    assert!(f.report.contains("t.check:1:16: error"), "{f}");
    setup_fail("CHECK-COUNT-0: x\n", &Options::default(), "invalid count in -COUNT specification on prefix 'CHECK'");
}

// ----- CHECK-NEXT -----

#[test]
fn next_passes_on_the_following_line() {
    pass("CHECK: a\nCHECK-NEXT: b\nCHECK-NEXT: c\n", "a\nb\nc\n");
    pass("CHECK: a\nCHECK-NEXT: b\n", "x a y\nz b\n");
}

#[test]
fn next_fails_two_lines_later() {
    let f =
        fail_with("CHECK: a\nCHECK-NEXT: c\n", "a\nb\nc\n", "CHECK-NEXT: is not on the line after the previous match");
    assert!(f.report.contains("t.check:2:13: error: CHECK-NEXT: is not on the line after the previous match"), "{f}");
    assert!(f.report.contains("<stdin>:3:1: note: 'next' match was here"), "{f}");
    assert!(f.report.contains("<stdin>:1:2: note: previous match ended here"), "{f}");
    assert!(f.report.contains("<stdin>:2:1: note: non-matching line after previous match is here"), "{f}");
    assert!(
        f.report.contains("!~ error: match on wrong line") || f.report.contains("! error: match on wrong line"),
        "{f}"
    );
}

#[test]
fn next_fails_on_the_same_line() {
    fail_with("CHECK: a\nCHECK-NEXT: b\n", "a b\n", "CHECK-NEXT: is on the same line as previous match");
}

#[test]
fn next_without_previous_check_is_an_error() {
    setup_fail("CHECK-NEXT: a\n", &Options::default(), "found 'CHECK-NEXT' without previous 'CHECK: line");
    setup_fail(
        "CHECK-NOT: x\nCHECK-SAME: a\n",
        &Options::default(),
        "found 'CHECK-SAME' without previous 'CHECK: line",
    );
}

// ----- CHECK-SAME -----

#[test]
fn same() {
    pass(
        "CHECK: %0 = \"snn.linear\"\nCHECK-SAME: tensor<8x64xi1>\nCHECK-SAME: -> tensor<8x10xf32>\n",
        "%0 = \"snn.linear\"(%arg) : (tensor<8x64xi1>) -> tensor<8x10xf32>\n",
    );
    let f =
        fail_with("CHECK: a\nCHECK-SAME: b\n", "a\nb\n", "CHECK-SAME: is not on the same line as the previous match");
    assert!(f.report.contains("<stdin>:2:1: note: 'next' match was here"), "{f}");
}

// ----- CHECK-EMPTY -----

#[test]
fn empty() {
    pass("CHECK: a\nCHECK-EMPTY:\nCHECK-NEXT: b\n", "a\n\nb\n");
    fail_with("CHECK: a\nCHECK-EMPTY:\n", "a\nx\n\n", "CHECK-EMPTY: is not on the line after the previous match");
    fail_with("CHECK: a\nCHECK-EMPTY:\n", "a\nx\ny", "CHECK-EMPTY: expected string not found in input");
    setup_fail(
        "CHECK: a\nCHECK-EMPTY: b\n",
        &Options::default(),
        "found non-empty check string for empty check with prefix 'CHECK:'",
    );
}

// ----- CHECK-NOT -----

#[test]
fn not_between_matches() {
    pass("CHECK: a\nCHECK-NOT: x\nCHECK: b\n", "a\nb\nx\n");
    let f = fail_with("CHECK: a\nCHECK-NOT: x\nCHECK: b\n", "a\nx\nb\n", "CHECK-NOT: excluded string found in input");
    assert!(f.report.contains("t.check:2:12: error: CHECK-NOT: excluded string found in input"), "{f}");
    assert!(f.report.contains("<stdin>:2:1: note: found here\nx\n^\n"), "{f}");
    assert!(f.report.contains("!  error: no match expected") || f.report.contains("! error: no match expected"), "{f}");
}

#[test]
fn not_at_the_ends() {
    pass("CHECK-NOT: conv\nCHECK: linear\n", "linear\nconv\n");
    fail_with("CHECK-NOT: conv\nCHECK: linear\n", "conv\nlinear\n", "CHECK-NOT: excluded string found in input");
    pass("CHECK: linear\nCHECK-NOT: conv\n", "conv\nlinear\n");
    fail_with("CHECK: linear\nCHECK-NOT: conv\n", "linear\nconv\n", "CHECK-NOT: excluded string found in input");
    // Only CHECK-NOTs: the whole input.
    pass("CHECK-NOT: error\n", "all good\n");
    fail_with("CHECK-NOT: error\n", "an error\n", "CHECK-NOT: excluded string found in input");
}

#[test]
fn not_reports_every_excluded_string() {
    let f = fail("CHECK-NOT: x\nCHECK-NOT: y\nCHECK: z\n", "x y z\n");
    assert_eq!(f.errors.len(), 2, "{f}");
}

#[test]
fn implicit_check_not() {
    let opts = Options { implicit_check_not: vec!["warning:".into()], ..Options::default() };
    run_with("CHECK: error: a\n", "error: a\n", &opts).unwrap();
    let f = run_with("CHECK: error: a\n", "warning: b\nerror: a\n", &opts).unwrap_err();
    assert_eq!(f.errors, vec!["IMPLICIT-CHECK-NOT: excluded string found in input".to_string()]);
    assert!(f.report.contains("command line:1:22: error"), "{f}");
    let f = run_with("CHECK: error: a\n", "error: a\nwarning: b\n", &opts).unwrap_err();
    assert_eq!(f.kind, FailureKind::Check);
    // With no explicit prefix, --implicit-check-not alone is enough.
    run_with("nothing here\n", "fine\n", &opts).unwrap();
}

// ----- CHECK-DAG -----

#[test]
fn dag_any_order() {
    pass("CHECK-DAG: b\nCHECK-DAG: a\nCHECK: c\n", "a\nb\nc\n");
    pass("CHECK-DAG: a\nCHECK-DAG: b\nCHECK: c\n", "b\na\nc\n");
    // The next CHECK starts after the group's last match.
    fail_with("CHECK-DAG: a\nCHECK-DAG: b\nCHECK: c\n", "c\na\nb\n", "CHECK: expected string not found in input");
}

#[test]
fn dag_matches_do_not_overlap() {
    pass("CHECK-DAG: x\nCHECK-DAG: x\n", "x x\n");
    let f = fail_with("CHECK-DAG: x\nCHECK-DAG: x\n", "x\n", "CHECK-DAG: expected string not found in input");
    assert!(f.report.contains("t.check:2:12: error: CHECK-DAG: expected string not found in input"), "{f}");
    let opts = Options { allow_deprecated_dag_overlap: true, ..Options::default() };
    run_with("CHECK-DAG: x\nCHECK-DAG: x\n", "x\n", &opts).unwrap();
}

#[test]
fn dag_groups_with_not_between() {
    let check = "CHECK-DAG: a\nCHECK-DAG: b\nCHECK-NOT: x\nCHECK-DAG: c\nCHECK-DAG: d\n";
    pass(check, "b a d c\n");
    pass(check, "b a x\nd c\n".replace("x\n", "y\n").as_str());
    fail_with(check, "b a x d c\n", "CHECK-NOT: excluded string found in input");
    // The second group cannot reach back before the first group's end.
    fail_with(check, "c b a d\n", "CHECK-DAG: expected string not found in input");
}

#[test]
fn dag_defines_variables_for_later_lines() {
    pass(
        "CHECK-DAG: %[[A:[0-9]+]] = \"snn.input\"\nCHECK-DAG: %[[W:[0-9]+]] = \"snn.constant\"\nCHECK: \"snn.add\"(%[[A]], %[[W]])\n",
        "%1 = \"snn.constant\"\n%0 = \"snn.input\"\n%2 = \"snn.add\"(%0, %1)\n",
    );
}

// ----- CHECK-LABEL -----

#[test]
fn labels_split_the_input_into_blocks() {
    let input = "label0:\na\nb\n\nlabel1:\nb\nc\n\nlabel2:\na\nc\n";
    pass(
        "CHECK-LABEL: {{^}}label0:\nCHECK: {{^}}a\nCHECK: {{^}}b\nCHECK-LABEL: {{^}}label1:\nCHECK: {{^}}b\nCHECK: {{^}}c\nCHECK-LABEL: {{^}}label2:\nCHECK: {{^}}a\nCHECK: {{^}}c\n",
        input,
    );
    // Each block fails on its own and every failure is reported.
    let f = fail(
        "CHECK-LABEL: {{^}}label0:\nCHECK: {{^}}c\nCHECK-LABEL: {{^}}label1:\nCHECK: {{^}}a\nCHECK-LABEL: {{^}}label2:\nCHECK: {{^}}b\n",
        input,
    );
    assert_eq!(f.errors.len(), 3, "{f}");
    assert!(f.errors.iter().all(|e| e == "CHECK: expected string not found in input"), "{f}");
}

#[test]
fn label_failure_stops_checking() {
    let f = fail_with(
        "CHECK-LABEL: func @f\nCHECK: a\nCHECK-LABEL: func @g\n",
        "func @f\na\n",
        "CHECK-LABEL: expected string not found in input",
    );
    assert_eq!(f.errors.len(), 1, "{f}");
}

#[test]
fn label_blocks_bound_the_search() {
    // `b` exists only in the second block; the first block's CHECK cannot see it.
    fail_with(
        "CHECK-LABEL: one\nCHECK: b\nCHECK-LABEL: two\n",
        "one\na\ntwo\nb\n",
        "CHECK: expected string not found in input",
    );
    // CHECK-NOT before a label applies up to the label.
    fail_with(
        "CHECK-LABEL: one\nCHECK-NOT: x\nCHECK-LABEL: two\n",
        "one\nx\ntwo\n",
        "CHECK-NOT: excluded string found in input",
    );
    pass("CHECK-LABEL: one\nCHECK-NOT: x\nCHECK-LABEL: two\n", "one\ntwo\nx\n");
    // CHECK-NEXT right after a label.
    pass("CHECK-LABEL: one\nCHECK-NEXT: a\n", "one\na\n");
}

#[test]
fn labels_cannot_use_variables() {
    setup_fail("CHECK-LABEL: [[X:a]]\n", &Options::default(), "found 'CHECK-LABEL:' with variable definition or use");
}

#[test]
fn var_scope() {
    let check = "CHECK-LABEL: f\nCHECK: [[X:[a-z]+]] [[$G:[0-9]+]]\nCHECK-LABEL: g\nCHECK: [[$G]]\nCHECK: [[X]]\n";
    let input = "f\nfoo 7\ng\n7 foo\n";
    pass(check, input);
    let opts = Options { enable_var_scope: true, ..Options::default() };
    let f = run_with(check, input, &opts).unwrap_err();
    assert_eq!(f.errors, vec!["undefined variable: X".to_string()], "{f}");
}

// ----- variables -----

#[test]
fn string_variables() {
    pass(
        "CHECK: %[[X:[0-9]+]] = \"snn.input\"\nCHECK-NEXT: \"snn.linear\"(%[[X]])\n",
        "%3 = \"snn.input\"()\n%4 = \"snn.linear\"(%3)\n",
    );
    let f = fail_with(
        "CHECK: %[[X:[0-9]+]] = \"snn.input\"\nCHECK-NEXT: \"snn.linear\"(%[[X]])\n",
        "%3 = \"snn.input\"()\n%4 = \"snn.linear\"(%2)\n",
        "CHECK-NEXT: expected string not found in input",
    );
    assert!(f.report.contains("note: with \"X\" equal to \"3\""), "{f}");
}

#[test]
fn variable_redefinition_takes_the_new_value() {
    pass("CHECK: v=[[V:[a-z]]]\nCHECK: v=[[V:[a-z]]]\nCHECK: use [[V]]\n", "v=a\nv=b\nuse b\n");
}

#[test]
fn same_line_definition_and_use() {
    pass("CHECK: [[A:[0-9]+]] + [[A]]\n", "1 + 2\n3 + 3\n");
    fail("CHECK: [[A:[0-9]+]] + [[A]]\n", "1 + 2\n3 + 4\n");
    pass("CHECK: [[A:[0-9]]] [[A]]\n", "1 2 ; 5 5\n");
    // The use is shorter than what its regex would match greedily.
    pass("CHECK: [[W:[a-c]+]] [[W]]\n", "a ab\n");
    pass("CHECK: \"snn.add\"(%[[X:[0-9]+]], %[[X]])\n", "\"snn.add\"(%0, %1)\n\"snn.add\"(%2, %2)\n");
}

#[test]
fn undefined_variable() {
    let f = fail_with("CHECK: [[NOPE]]\n", "x\n", "undefined variable: NOPE");
    assert!(f.report.starts_with("t.check:1:10: error: undefined variable: NOPE\n"), "{f}");
    fail_with("CHECK: a\nCHECK-NOT: [[#N+1]]\nCHECK: b\n", "a\nb\n", "undefined variable: N");
}

#[test]
fn variable_values_are_literal() {
    pass("CHECK: [[X:a.c]]\nCHECK: [[X]]\n", "a.c\na.c\n");
    fail("CHECK: [[X:a.c]]\nCHECK: [[X]]\n", "a.c\nabc\n");
}

#[test]
fn command_line_defines() {
    let opts = Options { defines: vec!["NAME=snn.lif".into(), "#N=3".into()], ..Options::default() };
    run_with("CHECK: [[NAME]] x[[#N+1]]\n", "snn.lif x4\n", &opts).unwrap();
    run_with("CHECK: [[NAME]]\n", "snn.if\n", &opts).unwrap_err();
    let bad = Options { defines: vec!["1X=3".into()], ..Options::default() };
    assert!(FileCheck::new("t", "CHECK: a", &bad).is_err());
}

#[test]
fn numeric_variables() {
    pass("CHECK: size [[#N:]]\nCHECK: next [[#N+1]]\nCHECK: prev [[#N-1]]\n", "size 41\nnext 42\nprev 40\n");
    let f = fail("CHECK: size [[#N:]]\nCHECK: next [[#N+1]]\n", "size 41\nnext 43\n");
    assert!(f.report.contains("<stdin>:1:8: note: with \"N+1\" equal to \"42\""), "{f}");
    pass("CHECK: [[#%x,A:]]\nCHECK: [[#%X,A+1]]\n", "ff\n100\n");
    pass("CHECK: [[#B:7]]\nCHECK: [[#B*0+B]]\n".replace("*0+B", "+0").as_str(), "7\n7\n");
    setup_fail(
        "CHECK: [[#N:]] [[#N]]\n",
        &Options::default(),
        "numeric variable 'N' defined earlier in the same CHECK directive",
    );
}

#[test]
fn line_numbers() {
    pass("a\nCHECK: line [[@LINE]]\nCHECK: next [[@LINE+1]]\nCHECK: prev [[#@LINE-1]]\n", "line 2\nnext 4\nprev 3\n");
    fail("CHECK: line [[@LINE]]\n", "line 2\n");
}

// ----- regexes -----

#[test]
fn regex_blocks() {
    pass("CHECK: tensor<{{[0-9]+}}x{{[0-9]+}}xi1>\n", "tensor<8x64xi1>\n");
    // The first `}}` ends a regex block, as in LLVM.
    pass("CHECK: a{{(b{2})}}c\n", "abbc\n");
    setup_fail("CHECK: a{{b{2}}}c\n", &Options::default(), "invalid regex");
    pass("CHECK: {{^}}%0 = {{.*}}snn.input{{.*$}}\n", "%0 = \"snn.input\"()\n");
    fail("CHECK: {{^}}snn.input\n", "%0 = \"snn.input\"()\n");
    // Literal text around a regex is not a regex.
    fail("CHECK: a.c{{[0-9]}}\n", "abc1\n");
    pass("CHECK: [1, 2]\n", "x = [1, 2]\n");
}

#[test]
fn regexes_do_not_cross_lines() {
    fail("CHECK: a{{.*}}b\n", "a\nb\n");
    fail("CHECK: a{{[^x]*}}b\n", "a\nb\n");
    fail("CHECK: a{{\\s*}}b\n", "a\nb\n");
    pass("CHECK: a{{[^x]*}}b\n", "a yy b\n");
}

#[test]
fn bad_regex_is_a_setup_error() {
    setup_fail("CHECK: {{(}}\n", &Options::default(), "t.check:1:10: error: invalid regex");
    setup_fail("CHECK: {{abc\n", &Options::default(), "found start of regex string with no end '}}'");
    setup_fail("CHECK: [[X:abc\n", &Options::default(), "invalid substitution block, no ]] found");
    setup_fail("CHECK: [[1X]]\n", &Options::default(), "invalid variable name");
}

// ----- whitespace -----

#[test]
fn horizontal_whitespace_is_canonicalised() {
    pass("CHECK: a b\n", "a \t  b\n");
    pass("CHECK:    a  \t b    \n", "a b\n");
    pass("CHECK:\ta b\n", "xa b\n");
    fail("CHECK: a b\n", "ab\n");
    fail("CHECK: ab\n", "a b\n");
    pass("CHECK: a\nCHECK-NEXT: b\n", "a\r\nb\r\n");
}

#[test]
fn strict_whitespace() {
    let opts = Options { strict_whitespace: true, ..Options::default() };
    run_with("CHECK: a  b\n", "a  b\n", &opts).unwrap();
    run_with("CHECK: a b\n", "a  b\n", &opts).unwrap_err();
    run_with("CHECK: a\tb\n", "a b\n", &opts).unwrap_err();
}

#[test]
fn match_full_lines() {
    let opts = Options { match_full_lines: true, ..Options::default() };
    run_with("CHECK: abc\n", "abc\n", &opts).unwrap();
    run_with("CHECK: abc\n", "  abc  \n", &opts).unwrap();
    run_with("CHECK: abc\n", "xabc\n", &opts).unwrap_err();
    run_with("CHECK: abc\n", "abc d\n", &opts).unwrap_err();
    // Not applied to CHECK-NOT.
    run_with("CHECK: abc\nCHECK-NOT: b\n", "abc\nxbx\n", &opts).unwrap_err();
    let strict = Options { match_full_lines: true, strict_whitespace: true, ..Options::default() };
    run_with("CHECK:abc\n", " abc\n", &strict).unwrap_err();
    run_with("CHECK: abc\n", " abc\n", &strict).unwrap();
}

#[test]
fn ignore_case() {
    let opts = Options { ignore_case: true, ..Options::default() };
    run_with("CHECK: Error: {{[a-z]+}}\n", "error: BAD\n", &opts).unwrap();
    fail("CHECK: Error\n", "error\n");
}

// ----- prefixes and comments -----

#[test]
fn check_prefixes() {
    let opts = prefixes(&["ERR", "BOTH"]);
    run_with("ERR: e\nBOTH: b\nCHECK: not-a-directive\n", "e b\n", &opts).unwrap();
    let f = run_with("ERR: e\nBOTH: x\n", "e b\n", &opts).unwrap_err();
    assert_eq!(f.errors, vec!["BOTH: expected string not found in input".to_string()]);
    setup_fail("ERR: e\n", &opts, "error: no check strings found with prefix 'BOTH:'");
    let lenient = Options { allow_unused_prefixes: true, ..prefixes(&["ERR", "BOTH"]) };
    run_with("ERR: e\n", "e\n", &lenient).unwrap();
    // A longer prefix is not mistaken for a shorter one.
    let two = Options { allow_unused_prefixes: true, ..prefixes(&["CHECK", "CHECK-A"]) };
    run_with("CHECK-A: x\n", "x\n", &two).unwrap();
    run_with("CHECK-A: y\n", "x\n", &two).unwrap_err();
}

#[test]
fn no_directives_is_an_error() {
    setup_fail("nothing\n", &Options::default(), "error: no check strings found with prefix 'CHECK:'");
    setup_fail("nothing\n", &prefixes(&["A", "B"]), "error: no check strings found with prefixes 'A:', 'B:'");
    setup_fail("a\n", &prefixes(&["X.Y"]), "supplied check prefix must contain only alphanumeric");
    setup_fail("a\n", &prefixes(&["A", "A"]), "supplied check prefix must be unique");
}

#[test]
fn prefixes_must_be_whole_words() {
    // MYCHECK and CHECKER are not CHECK; unknown suffixes are not directives.
    pass("MYCHECK: zzz\nCHECKER: zzz\nCHECK-FOO: zzz\nCHECK: a\n", "a\n");
}

#[test]
fn comment_directives() {
    pass("// RUN: FileCheck %s --check-prefix=CHECK: zzz\n// COM: CHECK: zzz\n// CHECK: a\n", "a\n");
    let opts = Options { comment_prefixes: vec!["NOTE".into()], ..Options::default() };
    run_with("NOTE: CHECK: zzz\nCHECK: a\n", "a\n", &opts).unwrap();
}

#[test]
fn empty_pattern_is_an_error() {
    setup_fail("CHECK:\n", &Options::default(), "found empty check string with prefix 'CHECK:'");
    setup_fail("CHECK-NEXT: a\n", &Options::default(), "without previous");
    setup_fail("CHECK-NOT-NEXT: a\n", &Options::default(), "unsupported -NOT combo on prefix 'CHECK'");
}

// ----- input -----

#[test]
fn empty_input() {
    let f = run("CHECK-NOT: x\n", "").unwrap_err();
    assert_eq!(f.kind, FailureKind::Setup);
    assert!(f.report.contains("FileCheck error: '<stdin>' is empty."), "{f}");
    let opts = Options { allow_empty: true, ..Options::default() };
    run_with("CHECK-NOT: x\n", "", &opts).unwrap();
}

#[test]
fn long_lines_are_shown_as_a_window() {
    let blob = format!("x = \"0x{}\"\n", "0A".repeat(20_000));
    let f = fail("CHECK: snn.linear\n", &blob);
    assert!(f.report.len() < 4_000, "report of {} bytes", f.report.len());
    assert!(f.report.contains("..."), "{f}");
}

#[test]
fn dump_filter_and_context() {
    let input: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    let f = fail("CHECK: line 20\nCHECK-NOT: line 30\nCHECK: line 35\n", &input);
    let dump = &f.report[f.report.find("<<<<<<").unwrap()..];
    assert!(dump.contains("30: line 30"), "{dump}");
    assert!(dump.contains("25: line 25"), "{dump}");
    assert!(!dump.contains(" 2: line 2\n"), "{dump}");
    assert!(dump.contains("\n       .\n") || dump.contains(" .\n"), "{dump}");
    assert!(dump.contains("not:2"), "{dump}");
    let never = Options { dump_input: DumpInput::Never, ..Options::default() };
    let f = run_with("CHECK: nope\n", "x\n", &never).unwrap_err();
    assert!(!f.report.contains("<<<<<<"), "{f}");
}

#[test]
fn non_ascii_text() {
    pass("// Ünïcödé … CHECK: grüße\nCHECK-NEXT: {{.}}x\n", "«grüße»\néx\n");
    let f = fail("CHECK: «b»\n", "«a» «c»\n");
    assert!(f.report.contains("<stdin>:1:1: note: scanning from here"), "{f}");
}

#[test]
fn canonicalize_rules() {
    assert_eq!(canonicalize("a \t b\r\nc\t\n", false), "a b\nc \n");
    assert_eq!(canonicalize("a \t b\r\n", true), "a \t b\n");
}
