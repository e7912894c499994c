//! The float LIF step against golden traces recorded from real snnTorch 1.0
//! (`Leaky(reset_delay=False)`, see `fixtures/gen_snntorch_traces.py`): every spike and every
//! membrane value must match bit for bit.

use phi_dialect::ops::snn::Reset;
use phi_runtime::neuron::FloatLif;

fn f(hex: &str) -> f32 {
    f32::from_bits(u32::from_str_radix(hex, 16).expect("hex"))
}

#[test]
#[allow(clippy::needless_range_loop)] // t and j index three parallel traces
fn float_lif_matches_snntorch_bit_for_bit() {
    let text = include_str!("fixtures/snntorch_lif_traces.txt");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let mut cases = 0;
    let mut spikes_seen = 0;
    let mut carried_resets = 0;
    while let Some(header) = lines.next() {
        let kv: std::collections::HashMap<&str, &str> =
            header.split_whitespace().skip(1).filter_map(|p| p.split_once('=')).collect();
        let lif = FloatLif {
            beta: f(kv["beta"]),
            threshold: f(kv["threshold"]),
            reset: match kv["reset"] {
                "subtract" => Reset::Subtract,
                "zero" => Reset::Zero,
                other => panic!("unknown reset {other}"),
            },
        };
        let (t, n): (usize, usize) = (kv["T"].parse().unwrap(), kv["n"].parse().unwrap());
        let row = |tag: &str, line: Option<&str>| -> Vec<String> {
            let line = line.expect("line");
            assert!(line.starts_with(tag), "expected {tag} line");
            line.split_whitespace().skip(1).map(str::to_string).collect()
        };
        let currents: Vec<f32> = row("I", lines.next()).iter().map(|h| f(h)).collect();
        let spikes: Vec<u8> = row("S", lines.next()).iter().map(|s| s.parse().unwrap()).collect();
        let mems: Vec<f32> = row("V", lines.next()).iter().map(|h| f(h)).collect();
        assert_eq!(currents.len(), t * n);
        let mut v = vec![0f32; n];
        for step in 0..t {
            for j in 0..n {
                let k = step * n + j;
                if v[j] > lif.threshold {
                    carried_resets += 1;
                }
                let s = lif.step(&mut v[j], currents[k]);
                assert_eq!(s as u8, spikes[k], "case {cases} ({header}), t={step}, neuron {j}: spike");
                assert_eq!(
                    v[j].to_bits(),
                    mems[k].to_bits(),
                    "case {cases} ({header}), t={step}, neuron {j}: membrane {} vs {}",
                    v[j],
                    mems[k]
                );
                spikes_seen += s as usize;
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 8);
    assert!(spikes_seen > 100, "the traces exercise firing ({spikes_seen} spikes)");
    assert!(carried_resets > 0, "the traces exercise a membrane left above threshold");
}
