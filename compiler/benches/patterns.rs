//! Pattern-selection benchmarks on a VGG-16-sized spiking GEMM (`cargo bench -p phi-compiler
//! --bench patterns`; method and results in `docs/benchmarks.md`).
//!
//! **Workload.** `K = 4608` columns (the 3×3×512 im2col of VGG-16's late convolutions) and one
//! million rows (`PHI_BENCH_ROWS` overrides it for quick runs), generated deterministically
//! with structure, as real spike data has:
//!
//! - 256 prototype rows, every bit set with probability 9 % (ChaCha8, seed 0x5EED);
//! - each row copies a prototype chosen with a skew towards low indices
//!   (`i = uniform_below(uniform_below(256) + 1)`, so popular and rare prototypes coexist) and
//!   flips 46 uniformly drawn positions (≈1 % bit noise; repeats allowed);
//! - the resulting bit density is ≈9.8 % (printed by the benchmark).
//!
//! **Cases.** (a) `count_partitions` with `k = 16` (also 8 and 32) on the whole matrix, against
//! a baseline measured in the same run: naive single-threaded counting that extracts each
//! row's partition vector with `BitMatrix::extract` and counts it in a `std::HashMap` per
//! partition, then sorts. Throughput is in vectors (rows × partitions) per second.
//! (b) selection with `q = 128` on the `k = 16` statistics: `select_all` (rayon over
//! partitions) with `KMeans` and with `CostAware`, against the sequential
//! `stats.iter().map(select)` with `KMeans`. The operation counts (bit sparsity, k-means,
//! cost-aware) are printed once.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use phi_compiler::patterns::{
    Algorithm, BitMatrix, Init, PartitionStats, SelectOptions, count_partitions, select, select_all,
};
use phi_runtime::rng::uniform_below;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const K: usize = 4608;
const PROTOTYPES: usize = 256;
/// Prototype bit probability, in 1/1000.
const PROTO_DENSITY_PERMILLE: u32 = 90;
const NOISE_FLIPS: usize = 46;

fn rows() -> usize {
    std::env::var("PHI_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// The structured synthetic layer described in the file doc.
fn generate(rows: usize) -> BitMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED);
    let words = K.div_ceil(64);
    let prototypes: Vec<Vec<u64>> = (0..PROTOTYPES)
        .map(|_| {
            let mut row = vec![0u64; words];
            for c in 0..K {
                if rng.next_u32() % 1000 < PROTO_DENSITY_PERMILLE {
                    row[c / 64] |= 1 << (c % 64);
                }
            }
            row
        })
        .collect();
    let mut m = BitMatrix::new(K);
    m.reserve_rows(rows);
    let mut row = vec![0u64; words];
    for _ in 0..rows {
        let limit = uniform_below(&mut rng, PROTOTYPES) + 1;
        row.copy_from_slice(&prototypes[uniform_below(&mut rng, limit)]);
        for _ in 0..NOISE_FLIPS {
            let c = uniform_below(&mut rng, K);
            row[c / 64] ^= 1 << (c % 64);
        }
        m.push_packed_row(&row).expect("row width");
    }
    m
}

/// The baseline: per row, per partition, extract and count in a `std::HashMap`.
fn naive_count(m: &BitMatrix, k: u32) -> Vec<PartitionStats> {
    let parts = m.cols().div_ceil(k as usize);
    let widths: Vec<u32> = (0..parts).map(|p| (m.cols() - p * k as usize).min(k as usize) as u32).collect();
    let mut maps: Vec<HashMap<u32, u64>> = vec![HashMap::new(); parts];
    for r in 0..m.rows() {
        for (p, map) in maps.iter_mut().enumerate() {
            *map.entry(m.extract(r, p * k as usize, widths[p])).or_insert(0) += 1;
        }
    }
    maps.into_iter()
        .enumerate()
        .map(|(p, map)| {
            let mut vectors: Vec<(u32, u64)> = map.into_iter().collect();
            vectors.sort_unstable();
            PartitionStats { partition: p, width: widths[p], rows: m.rows() as u64, vectors }
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let rows = rows();
    let t = Instant::now();
    let m = generate(rows);
    let ones: u64 = m.words().iter().map(|w| u64::from(w.count_ones())).sum();
    println!(
        "workload: {rows} rows × {K} columns, bit density {:.2} %, generated in {:.1} s, rayon threads {}",
        100.0 * ones as f64 / (rows * K) as f64,
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );

    // (a) Counting.
    let mut group = c.benchmark_group("count_partitions");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(20));
    for k in [16u32, 8, 32] {
        let vectors = (rows * K.div_ceil(k as usize)) as u64;
        group.throughput(Throughput::Elements(vectors));
        group.bench_with_input(BenchmarkId::new("rayon", k), &k, |b, &k| b.iter(|| count_partitions(black_box(&m), k)));
    }
    let stats = count_partitions(&m, 16);
    let mut head = BitMatrix::new(K);
    for r in 0..rows.min(100_000) {
        head.push_packed_row(m.row_words(r)).expect("row width");
    }
    assert_eq!(naive_count(&head, 16), count_partitions(&head, 16), "the baseline must count the same");
    group.throughput(Throughput::Elements((rows * K / 16) as u64));
    group.measurement_time(Duration::from_secs(90));
    group.bench_with_input(BenchmarkId::new("naive_hashmap", 16), &16u32, |b, &k| {
        b.iter(|| naive_count(black_box(&m), k))
    });
    group.finish();
    drop(m);

    // (b) Selection on the k = 16 statistics.
    let distinct: usize = stats.iter().map(|s| s.vectors.len()).sum();
    let candidates: usize = stats.iter().map(|s| s.vectors.iter().filter(|v| v.0.count_ones() >= 2).count()).sum();
    let kmeans = SelectOptions { q: 128, ..Default::default() };
    let cost_aware = SelectOptions { algorithm: Algorithm::CostAware, ..kmeans };
    let t = Instant::now();
    let km = select_all(&stats, &kmeans);
    let km_time = t.elapsed();
    let t = Instant::now();
    let ca = select_all(&stats, &cost_aware);
    let ca_time = t.elapsed();
    let bit: u64 = km.iter().map(|s| s.bit_sparse_ops).sum();
    let km_ops: u64 = km.iter().map(|s| s.ops_objective).sum();
    let ca_ops: u64 = ca.iter().map(|s| s.ops_objective).sum();
    let dense = (rows * K) as f64;
    println!(
        "k = 16: {} partitions, {distinct} distinct vectors ({candidates} candidates of popcount ≥ 2); q = 128",
        stats.len()
    );
    println!(
        "ops: bit sparsity {bit} ({:.2} % of dense), k-means {km_ops} ({:.2}× fewer than bit sparsity, {:.1} s), \
         cost-aware {ca_ops} ({:.2}× fewer, {:.3}× fewer than k-means, {:.1} s); k-means converged in {}/{} partitions",
        100.0 * bit as f64 / dense,
        bit as f64 / km_ops as f64,
        km_time.as_secs_f64(),
        bit as f64 / ca_ops as f64,
        km_ops as f64 / ca_ops as f64,
        ca_time.as_secs_f64(),
        km.iter().filter(|s| s.converged).count(),
        km.len()
    );
    let frequency = SelectOptions { init: Init::Frequency, ..kmeans };
    let fr_ops: u64 = select_all(&stats, &frequency).iter().map(|s| s.ops_objective).sum();
    let passes: usize = ca.iter().map(|s| s.iterations).sum();
    println!(
        "k-means with frequency initialisation: ops {fr_ops} ({:.2}× fewer than bit sparsity); cost-aware: {:.1} local-search passes per partition on average, converged in {}/{} partitions",
        bit as f64 / fr_ops as f64,
        passes as f64 / ca.len() as f64,
        ca.iter().filter(|s| s.converged).count(),
        ca.len()
    );
    let mut group = c.benchmark_group("select_q128");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(stats.len() as u64));
    group.bench_function("kmeans_sequential", |b| {
        b.iter(|| black_box(&stats).iter().map(|s| select(s, &kmeans)).collect::<Vec<_>>())
    });
    group.bench_function("kmeans_select_all", |b| b.iter(|| select_all(black_box(&stats), &kmeans)));
    group.bench_function("cost_aware_select_all", |b| b.iter(|| select_all(black_box(&stats), &cost_aware)));
    group.finish();
}

criterion_group!(patterns, benches);
criterion_main!(patterns);
