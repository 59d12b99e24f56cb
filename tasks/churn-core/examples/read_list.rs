//! Times the customer-list reader on a CSV file.
//!
//! `cargo run --release --example read_list -- FILE [--floor]`: reads FILE with `CustomerReader`
//! (no measured columns) and prints the counts and the time; with `--floor`, also times reading
//! every field with the csv crate alone, the floor the reader is measured against (`--floor-only`:
//! only that).

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;
use std::time::Instant;

use churn_core::list::customers::{CustomerReader, ReadOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let floor_only = args.iter().any(|a| a == "--floor-only");
    let floor = floor_only || args.iter().any(|a| a == "--floor");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: read_list FILE [--floor]");
        return ExitCode::FAILURE;
    };
    let open = || File::open(path).map_err(|e| eprintln!("{path}: {e}"));

    if floor {
        let Ok(file) = open() else {
            return ExitCode::FAILURE;
        };
        let started = Instant::now();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::new(file));
        let mut record = csv::ByteRecord::new();
        let (mut records, mut field_bytes) = (0u64, 0u64);
        loop {
            match rdr.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    eprintln!("{path}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            records += 1;
            for field in record.iter() {
                field_bytes += field.len() as u64;
            }
        }
        println!(
            "csv floor:       {records} records, {field_bytes} field bytes in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        if floor_only {
            return ExitCode::SUCCESS;
        }
    }

    let Ok(file) = open() else {
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let mut reader = match CustomerReader::new(file, ReadOptions::default(), &[]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut good, mut bad) = (0u64, 0u64);
    let mut first_bad = None;
    while let Some(row) = reader.next_row() {
        match row {
            Ok(_) => good += 1,
            Err(b) => {
                bad += 1;
                first_bad.get_or_insert(b);
            }
        }
    }
    let bytes = reader.bytes_read();
    let result = reader.finish();
    let elapsed = started.elapsed().as_secs_f64();
    println!("CustomerReader:  {good} good, {bad} bad rows ({bytes} bytes) in {elapsed:.3} s");
    if let Some(b) = first_bad {
        println!("first bad row:   line {}: {}", b.line, b.reason);
    }
    if let Some(kb) = peak_rss_kb() {
        println!("peak memory:     {:.1} MB", kb as f64 / 1024.0);
    }
    match result {
        Ok(summary) => {
            println!("summary:         {summary:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("stopped:         {e}");
            ExitCode::FAILURE
        }
    }
}

/// Peak resident memory (Linux only).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
