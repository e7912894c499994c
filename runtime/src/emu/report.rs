//! Human and machine-readable reports of an emulation: the summary `phi-emu` prints, the
//! `--stats` JSON, the `--trace` Chrome-trace timeline and the comparison with baselines.

use std::fmt::Write;

use phi_dialect::program::ProgramMeta;
use serde_json::json;

use super::Report;

/// Correct predictions and samples, when labels were given.
pub type Accuracy = Option<(usize, usize)>;

fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `1.23 µJ`-style energy.
pub fn energy(pj: f64) -> String {
    match pj {
        p if p >= 1e9 => format!("{:.3} mJ", p / 1e9),
        p if p >= 1e6 => format!("{:.3} µJ", p / 1e6),
        p if p >= 1e3 => format!("{:.3} nJ", p / 1e3),
        p => format!("{p:.1} pJ"),
    }
}

/// `1.23 ms`-style time.
pub fn time(s: f64) -> String {
    match s {
        t if t >= 1.0 => format!("{t:.3} s"),
        t if t >= 1e-3 => format!("{:.3} ms", t * 1e3),
        t => format!("{:.3} µs", t * 1e6),
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 { "—".into() } else { format!("{:.2}×", a as f64 / b as f64) }
}

/// The summary `phi-emu` prints.
pub fn summary(meta: &ProgramMeta, r: &Report, acc: Accuracy) -> String {
    let mut o = String::new();
    let runs = r.samples.div_ceil(meta.batch.max(1) as usize);
    let _ = writeln!(
        o,
        "{} on the {} accelerator: {} samples ({} run(s) of a batch of {})",
        meta.model,
        meta.target.name(),
        r.samples,
        runs,
        meta.batch
    );
    if let Some((ok, n)) = acc {
        let _ = writeln!(o, "  accuracy     {:.2}% ({ok}/{n})", 100.0 * ok as f64 / n.max(1) as f64);
    }
    let per = r.samples.max(1) as f64;
    let _ = writeln!(
        o,
        "  cycles       {} ({} at {} MHz, {} per sample)",
        thousands(r.cycles),
        time(r.seconds),
        meta.hw.clock_mhz,
        time(r.seconds / per)
    );
    let _ = writeln!(
        o,
        "  energy       {} ({} per sample): DRAM {}, SRAM {}, compute {}, static {}",
        energy(r.energy_pj),
        energy(r.energy_pj / per),
        energy(r.energy.dram_pj),
        energy(r.energy.sram_pj),
        energy(r.energy.compute_pj),
        energy(r.energy.static_pj)
    );
    let o_ = &r.ops;
    let dense_path = o_.phi.saturating_sub(o_.l1 + o_.l2);
    let _ = writeln!(
        o,
        "  operations   dense {}, bit-sparse {}, Phi {} (L1 {} + L2 {}{})",
        thousands(o_.dense),
        thousands(o_.bit_sparse),
        thousands(o_.phi),
        thousands(o_.l1),
        thousands(o_.l2),
        if dense_path > 0 { format!(" + dense path {}", thousands(dense_path)) } else { String::new() }
    );
    if o_.phi > 0 {
        let _ = writeln!(
            o,
            "               Phi needs {} fewer row operations than bit sparsity, {} fewer than dense",
            ratio(o_.bit_sparse, o_.phi),
            ratio(o_.dense, o_.phi)
        );
    }
    let _ = writeln!(
        o,
        "  queues       load {} / compute {} / store {} busy cycles; {} instructions",
        thousands(r.busy[0]),
        thousands(r.busy[1]),
        thousands(r.busy[2]),
        thousands(r.instructions)
    );
    o.push('\n');
    o.push_str("| layer | mode | input | cycles | energy | DRAM bytes | ops dense | ops bit-sparse | ops Phi | L1 hit rate |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for l in &r.layers {
        let hit = if l.vectors == 0 {
            "—".to_string()
        } else {
            format!("{:.1}%", 100.0 * l.matched as f64 / l.vectors as f64)
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {hit} |",
            l.name,
            l.mode,
            l.input,
            thousands(l.cycles),
            energy(l.energy_pj),
            thousands(l.dram_bytes),
            thousands(l.ops.dense),
            thousands(l.ops.bit_sparse),
            if l.ops.phi > 0 || l.mode == "phi" { thousands(l.ops.phi) } else { "—".into() },
        );
    }
    o.push('\n');
    o.push_str("| unit | busy cycles |\n|---|---|\n");
    for (unit, busy) in &r.units {
        if *busy > 0 {
            let _ = writeln!(o, "| {unit} | {} |", thousands(*busy));
        }
    }
    o
}

/// The `--stats` JSON.
pub fn stats(meta: &ProgramMeta, r: &Report, acc: Accuracy) -> serde_json::Value {
    json!({
        "model": meta.model,
        "target": meta.target.name(),
        "samples": r.samples,
        "batch": meta.batch,
        "accuracy": acc.map(|(ok, n)| ok as f64 / n.max(1) as f64),
        "cycles": r.cycles,
        "seconds": r.seconds,
        "energy_pj": r.energy_pj,
        "energy": r.energy,
        "ops": r.ops,
        "busy": { "load": r.busy[0], "compute": r.busy[1], "store": r.busy[2] },
        "units": r.units,
        "instructions": r.instructions,
        "layers": r.layers,
        "clock_mhz": meta.hw.clock_mhz,
    })
}

/// The `--trace` timeline (Chrome trace format; open in Perfetto or chrome://tracing).
pub fn trace(meta: &ProgramMeta, r: &Report) -> serde_json::Value {
    let mut events: Vec<serde_json::Value> = ["load", "compute", "store"]
        .iter()
        .enumerate()
        .map(|(tid, name)| json!({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": name}}))
        .collect();
    events.push(json!({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": format!("{} ({})", meta.model, meta.target.name())}}));
    events.extend(r.trace.iter().map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null)));
    json!({ "traceEvents": events, "displayTimeUnit": "ns" })
}

/// A comparison of runs of the same workload on several targets; the first is the reference.
pub fn comparison(rows: &[(&ProgramMeta, &Report, Accuracy)]) -> String {
    let mut o = String::new();
    let Some(&(_, first, _)) = rows.first() else { return o };
    o.push_str("| target | accuracy | cycles | time | energy | speedup of Phi | energy efficiency of Phi |\n");
    o.push_str("|---|---|---|---|---|---|---|\n");
    for (meta, r, acc) in rows {
        let a = acc.map_or("—".to_string(), |(ok, n)| format!("{:.2}%", 100.0 * ok as f64 / n.max(1) as f64));
        let speed = format!("{:.2}×", r.cycles as f64 / first.cycles.max(1) as f64);
        let eff = format!("{:.2}×", r.energy_pj / first.energy_pj.max(1e-9));
        let _ = writeln!(
            o,
            "| {} | {a} | {} | {} | {} | {speed} | {eff} |",
            meta.target.name(),
            thousands(r.cycles),
            time(r.seconds),
            energy(r.energy_pj)
        );
    }
    o
}
