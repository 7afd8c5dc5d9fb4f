//! `consort bench ckks`: times the CKKS operations in a one-thread rayon pool and in an
//! all-threads pool, and prints a table next to Microsoft SEAL's figures on this machine.
//!
//! ```no_run
//! use consort_he::ckks::{bench, Preset};
//! let rows = bench::run_presets(&[Preset::N8192, Preset::N16384], &|msg| eprintln!("{msg}"))?;
//! println!("{}", bench::render_table(&rows));
//! # Ok::<(), consort_he::ckks::CkksError>(())
//! ```

use std::time::{Duration, Instant};

use super::error::{CkksError, Result};
use super::params::{CkksParams, Preset};
use super::{Ciphertext, Decryptor, Encryptor, Evaluator, KeyGenerator, MatVecPlan, power_of_two_steps};

/// One line of the benchmark table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What was measured.
    pub operation: String,
    /// Ring degree.
    pub n: usize,
    /// Median time in a one-thread pool (None for size-only rows).
    pub one_thread: Option<Duration>,
    /// Median time in the all-threads pool.
    pub all_threads: Option<Duration>,
    /// Number of threads of the all-threads pool.
    pub threads: usize,
    /// Serialized size, where relevant.
    pub bytes: Option<usize>,
    /// Microsoft SEAL (through TenSEAL) on this machine, where known (N = 8192 only).
    pub seal_reference: Option<Duration>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Parameter set.
    pub params: CkksParams,
    /// Repetitions per timed operation (the median is reported; key generation runs once).
    pub reps: usize,
    /// Vector × matrix shapes (d_in, d_out) to time.
    pub matvec_shapes: Vec<(usize, usize)>,
    /// Threads of the "all threads" pool (0: all available cores).
    pub all_threads: usize,
}

impl BenchConfig {
    /// The issue's benchmark for a preset: 256×10 and 784×128 products, 5 repetitions.
    pub fn for_preset(preset: Preset) -> Self {
        Self { params: CkksParams::preset(preset), reps: 5, matvec_shapes: vec![(256, 10), (784, 128)], all_threads: 0 }
    }

    /// A tiny, insecure configuration that keeps the benchmark code tested.
    pub fn quick_for_tests() -> Result<Self> {
        Ok(Self {
            params: CkksParams::insecure_for_tests(10, &[40, 30], 40, 30)?,
            reps: 1,
            matvec_shapes: vec![(16, 4)],
            all_threads: 2,
        })
    }
}

fn median<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        std::hint::black_box(f()?);
        times.push(start.elapsed());
    }
    times.sort_unstable();
    Ok(times.get(times.len() / 2).copied().unwrap_or_default())
}

struct Measure {
    op: String,
    time: Option<Duration>,
    bytes: Option<usize>,
}

fn timed(op: impl Into<String>, time: Duration) -> Measure {
    Measure { op: op.into(), time: Some(time), bytes: None }
}

fn measure_all(cfg: &BenchConfig, progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<Measure>> {
    let ctx = cfg.params.build()?;
    let n = ctx.degree();
    let slots = ctx.slots();
    let mut steps = power_of_two_steps(n);
    for &(d_in, d_out) in &cfg.matvec_shapes {
        steps.extend(MatVecPlan::rotation_steps(&ctx, d_in, d_out)?);
    }
    let mut out = Vec::new();
    progress(&format!("N={n}: key generation"));
    let start = Instant::now();
    let mut kg = KeyGenerator::from_seed(&ctx, [7; 32]);
    let pk = kg.public_key()?;
    let rlk = kg.relin_key()?;
    let gks = kg.galois_keys(&steps, true)?;
    out.push(timed(format!("key generation (sk, pk, rlk, {} Galois keys)", gks.len()), start.elapsed()));
    let mut enc = Encryptor::from_seed(&ctx, &pk, [8; 32])?;
    let dec = Decryptor::new(&ctx, kg.secret_key())?;
    let eval = Evaluator::new(&ctx);
    let x: Vec<f64> = (0..slots).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5).collect();

    progress(&format!("N={n}: encrypt, decrypt"));
    out.push(timed("encode + encrypt (full vector)", median(cfg.reps, || enc.encrypt_values(&x))?));
    let ct = enc.encrypt_values(&x)?;
    out.push(timed("decrypt + decode", median(cfg.reps, || dec.decrypt_values(&ct))?));
    progress(&format!("N={n}: multiply, rotate"));
    out.push(timed(
        "ct × ct multiply + relinearize + rescale",
        median(cfg.reps, || eval.mul_relin_rescale(&ct, &ct, &rlk))?,
    ));
    let pt = eval.encoder().encode(&x, ct.level(), ctx.q_at(ct.level())? as f64)?;
    out.push(timed("ct × pt multiply (pre-encoded)", median(cfg.reps, || eval.mul_plain(&ct, &pt))?));
    out.push(timed("rescale", median(cfg.reps, || eval.rescale(&eval.mul_plain(&ct, &pt)?))?));
    out.push(timed("rotation (1 step)", median(cfg.reps, || eval.rotate(&ct, 1, &gks))?));
    for &(d_in, d_out) in &cfg.matvec_shapes {
        progress(&format!("N={n}: {d_in}-vector × {d_in}×{d_out} matrix"));
        let w: Vec<f64> = (0..d_in * d_out).map(|i| ((i * 31) % 200) as f64 / 2000.0 - 0.05).collect();
        let level = ctx.max_level();
        let plan_time = median(cfg.reps, || MatVecPlan::vector_matrix(&eval, &w, d_in, d_out, level))?;
        let plan = MatVecPlan::vector_matrix(&eval, &w, d_in, d_out, level)?;
        let v: Vec<f64> = x.iter().take(d_in).copied().collect();
        let cv = enc.encrypt_values(&v)?;
        out.push(timed(format!("  prepare {d_in}×{d_out} matrix (encode diagonals)"), plan_time));
        out.push(timed(
            format!("enc {d_in}-vector × plain {d_in}×{d_out} matrix"),
            median(cfg.reps, || plan.apply(&eval, &cv, &gks))?,
        ));
        let batch: Vec<Ciphertext> = (0..4).map(|_| cv.clone()).collect();
        let t = median(cfg.reps.min(2), || plan.apply_batch(&eval, &batch, &gks))?;
        out.push(timed(format!("  batch of 4 vectors, {d_in}×{d_out}, per vector"), t / 4));
    }
    let one = kg.galois_keys(&[1], false)?;
    let sizes = [
        ("size: ciphertext (fresh)", ct.to_bytes(&ctx)?.len()),
        ("size: public key", pk.to_bytes(&ctx)?.len()),
        ("size: relinearization key", rlk.to_bytes(&ctx)?.len()),
        ("size: one Galois key", one.to_bytes(&ctx)?.len()),
        ("size: all generated Galois keys", gks.to_bytes(&ctx)?.len()),
    ];
    out.extend(sizes.into_iter().map(|(op, b)| Measure { op: op.into(), time: None, bytes: Some(b) }));
    Ok(out)
}

fn seal_reference(n: usize, op: &str) -> Option<Duration> {
    if n != 8192 {
        return None;
    }
    let ms = match op {
        "encode + encrypt (full vector)" => 4.35,
        "ct × ct multiply + relinearize + rescale" => 3.46,
        "rotation (1 step)" => 2.44,
        "enc 256-vector × plain 256×10 matrix" => 2100.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(ms / 1000.0))
}

fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| CkksError::Backend(e.to_string()))
}

/// Run one configuration in a one-thread pool, then in the all-threads pool.
pub fn run(cfg: &BenchConfig, progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<BenchRow>> {
    let n = cfg.params.degree();
    let threads = if cfg.all_threads == 0 {
        std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1)
    } else {
        cfg.all_threads
    };
    progress(&format!("N={n}: one thread"));
    let single = pool(1)?.install(|| measure_all(cfg, progress))?;
    progress(&format!("N={n}: {threads} threads"));
    let multi = pool(threads)?.install(|| measure_all(cfg, progress))?;
    Ok(single
        .into_iter()
        .zip(multi)
        .map(|(s, m)| BenchRow {
            seal_reference: seal_reference(n, &s.op),
            operation: s.op,
            n,
            one_thread: s.time,
            all_threads: m.time,
            threads,
            bytes: s.bytes,
        })
        .collect())
}

/// Run the issue's benchmark for each preset.
pub fn run_presets(presets: &[Preset], progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for &p in presets {
        rows.extend(run(&BenchConfig::for_preset(p), progress)?);
    }
    Ok(rows)
}

fn fmt_duration(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d >= Duration::from_secs(1) => format!("{:.2} s", d.as_secs_f64()),
        Some(d) if d >= Duration::from_millis(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
    }
}

/// The rows as an aligned text table.
pub fn render_table(rows: &[BenchRow]) -> String {
    let threads = rows.first().map(|r| r.threads).unwrap_or(1);
    let header = [
        "operation".to_string(),
        "N".into(),
        "1 thread".into(),
        format!("{threads} threads"),
        "bytes".into(),
        "SEAL (TenSEAL)".into(),
    ];
    let body: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.operation.clone(),
                r.n.to_string(),
                fmt_duration(r.one_thread),
                fmt_duration(r.all_threads),
                r.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                fmt_duration(r.seal_reference),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                let pad = w.saturating_sub(c.chars().count());
                if i == 0 { format!("{c}{}", " ".repeat(pad)) } else { format!("{}{c}", " ".repeat(pad)) }
            })
            .collect();
        format!("| {} |\n", parts.join(" | "))
    };
    let mut out = line(&header);
    let sep: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&format!("|-{}-|\n", sep.join("-|-")));
    body.iter().for_each(|r| out.push_str(&line(r)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bench_runs_and_renders() {
        let cfg = BenchConfig::quick_for_tests().unwrap();
        let rows = run(&cfg, &|_| {}).unwrap();
        assert!(rows.iter().any(|r| r.operation.contains("16×4") && r.one_thread.is_some()));
        assert!(rows.iter().any(|r| r.bytes.is_some_and(|b| b > 1000)));
        let table = render_table(&rows);
        assert!(table.contains("rotation (1 step)") && table.contains("2 threads"), "{table}");
        assert_eq!(table.lines().count(), rows.len() + 2);
    }
}
