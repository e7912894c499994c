//! `make-digits`: regenerate the rate-coded digits splits of
//! `examples/digits_mlp` (or, with `--images`, `examples/digits_cnn`) from `data/digits.csv.gz`.
//!
//! Run from the workspace root: `cargo run -p phi-examples --bin make-digits`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use phi_examples::digits::{self, PrepareOptions, SplitSizes};

/// Split the UCI digits set (seeded) and rate-code it into spike trains.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Gzip-compressed CSV: 64 pixel values 0..16, then the label, per line.
    #[arg(long, default_value = "examples/digits_mlp/data/digits.csv.gz")]
    input: PathBuf,
    /// Directory receiving train/calib/test(.npy, _labels.npy).
    #[arg(long, default_value = "examples/digits_mlp")]
    out_dir: PathBuf,
    /// Seed of the split permutation and of the spike coding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of time steps T.
    #[arg(long, default_value_t = digits::DEFAULT_TIME_STEPS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    time_steps: usize,
    /// Training samples (calib and test sizes are 200 and 400 by default).
    #[arg(long, default_value_t = SplitSizes::default().train)]
    train: usize,
    /// Calibration samples.
    #[arg(long, default_value_t = SplitSizes::default().calib)]
    calib: usize,
    /// Test samples.
    #[arg(long, default_value_t = SplitSizes::default().test)]
    test: usize,
    /// Write the spikes as one-channel 8×8 images, `[N, T, 1, 8, 8]` (for convolutional models).
    #[arg(long)]
    images: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<Vec<PathBuf>, digits::DigitsError> {
        let data = digits::read_digits_csv_gz(&args.input)?;
        let opts = PrepareOptions {
            seed: args.seed,
            time_steps: args.time_steps,
            sizes: SplitSizes { train: args.train, calib: args.calib, test: args.test },
        };
        let splits = digits::prepare_digits(&data, &opts)?;
        digits::write_splits_as(&splits, &args.out_dir, args.images)
    };
    match run() {
        Ok(paths) => {
            for p in paths {
                phi_runtime::outln!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-digits: {e}");
            ExitCode::FAILURE
        }
    }
}
