//! Benchmark for the BG/NBD fit (issue target: 50,000 customers in ≤ 1 s, release build).
//!
//! Simulates 50,000 customers from the BG/NBD process with CDNOW-like parameters (fixed seed),
//! rounds their times to whole days as order dates would, times `palive::fit` and prints the time
//! and the recovered parameters. Also fits the shipped CDNOW sample for comparison with the paper.
//!
//! `cargo run --release --example bgnbd_fit -p churn-core`

use std::time::Instant;

use churn_core::scoring::palive::{BgNbdParams, Summary, fit, read_summary_csv};

const CUSTOMERS: usize = 50_000;
const TRUE: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

/// splitmix64: tiny, fast, good enough for a simulation with a fixed seed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang, boosted for shape < 1.
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = self.normal();
            let v = (1.0 + c * z).powi(3);
            if v <= 0.0 {
                continue;
            }
            if self.uniform().ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }
}

/// One customer: first purchase at day 0 of a 12-week joining window, observed until week 39 of
/// the calendar (as in CDNOW); buys at rate λ while alive, drops out after a repeat purchase with
/// probability p.
fn simulate(rng: &mut Rng) -> Summary {
    let joined_day = (rng.uniform() * 84.0).floor();
    let t_days = 273.0 - joined_day;
    let t = t_days / 7.0;
    let lambda = rng.gamma(TRUE.r) / TRUE.alpha;
    let p = rng.beta(TRUE.a, TRUE.b);
    let (mut x, mut t_x, mut now) = (0u32, 0.0, 0.0);
    loop {
        now += -rng.uniform().ln() / lambda;
        if now > t {
            break;
        }
        x += 1;
        t_x = now;
        if rng.uniform() < p {
            break;
        }
    }
    Summary {
        frequency: f64::from(x),
        // Order dates are whole days.
        recency: (t_x * 7.0).floor() / 7.0,
        t,
    }
}

fn main() {
    let mut rng = Rng(0x00C0_FFEE);
    let data: Vec<Summary> = (0..CUSTOMERS).map(|_| simulate(&mut rng)).collect();
    let repeaters = data.iter().filter(|s| s.frequency > 0.0).count();
    println!("simulated {CUSTOMERS} customers ({repeaters} with a repeat purchase)");
    println!(
        "true:      r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}",
        TRUE.r, TRUE.alpha, TRUE.a, TRUE.b
    );

    // Best of a few runs, as the machine is shared.
    let mut best = f64::INFINITY;
    let mut result = None;
    for _ in 0..5 {
        let start = Instant::now();
        let f = fit(&data);
        best = best.min(start.elapsed().as_secs_f64());
        result = Some(f);
    }
    match result {
        Some(Ok(f)) => {
            let p = f.params;
            println!(
                "recovered: r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}, log-likelihood {:.2}, {} iterations",
                p.r, p.alpha, p.a, p.b, f.log_likelihood, f.iterations
            );
        }
        Some(Err(e)) => println!("fit failed: {e}"),
        None => {}
    }
    println!(
        "fit of {CUSTOMERS} customers: {:.1} ms (best of 5)",
        best * 1e3
    );

    let cdnow = include_str!("../../../tests/data/cdnow_customers_summary.csv");
    let data = match read_summary_csv(cdnow.as_bytes()) {
        Ok(d) => d,
        Err(e) => {
            println!("CDNOW: {e}");
            return;
        }
    };
    let start = Instant::now();
    let f = fit(&data);
    let elapsed = start.elapsed().as_secs_f64();
    match f {
        Ok(f) => println!(
            "CDNOW ({} customers): r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}, log-likelihood {:.2}, {} iterations, {:.1} ms",
            data.len(),
            f.params.r,
            f.params.alpha,
            f.params.a,
            f.params.b,
            f.log_likelihood,
            f.iterations,
            elapsed * 1e3
        ),
        Err(e) => println!("CDNOW fit failed: {e}"),
    }
}
