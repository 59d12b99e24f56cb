//! Benchmark: importing a 100,000-order export (Shopify-like, two line items per order) into a
//! 10,000-customer list, first into an empty history and then the same file again.
//!
//! `cargo run --release -p churn-local --example bench_import_orders [ORDERS] [CUSTOMERS]`

use std::fmt::Write as _;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let orders: usize = args.next().map_or(100_000, |a| a.parse().expect("ORDERS"));
    let customers: usize = args
        .next()
        .map_or(10_000, |a| a.parse().expect("CUSTOMERS"));
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::from(
        "customer_id,name,owner,email,last_order_date,order_pace_days,order_count,first_order_date\r\n",
    );
    for c in 0..customers {
        let _ = write!(
            list,
            "C{c:06},\"Shop {c}, Ltd\",owner{}@example.com,Buyer{c}@shop.example,,,,\r\n",
            c % 7
        );
    }
    std::fs::write(dir.path().join("customers.csv"), &list).unwrap();
    let mut file = String::from(
        "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price,Cancelled at,Refunded Amount,Id\n",
    );
    // SplitMix-style mixing: a fixed, spread-out order pattern.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for o in 0..orders {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let c = (z % customers as u64) as usize;
        let day = (z >> 20) % 700;
        let date = jiff::civil::date(2025, 1, 1) + jiff::Span::new().days(day as i64);
        let status = if o % 50 == 0 { "refunded" } else { "paid" };
        let _ = writeln!(
            file,
            "#{o},buyer{c}@shop.example,{status},{date} 10:00:00 +0800,fulfilled,SGD,40.00,42.00,{date} 10:00:00 +0800,1,Flour,40.00,,0.00,{o}"
        );
        let _ = writeln!(
            file,
            "#{o},buyer{c}@shop.example,,,,,,,{date} 10:00:00 +0800,1,Yeast,2.00,,,"
        );
    }
    let path = dir.path().join("orders_export.csv");
    std::fs::write(&path, &file).unwrap();
    println!(
        "{orders} orders ({} rows, {:.1} MB) into {customers} customers",
        orders * 2,
        file.len() as f64 / 1e6
    );
    let t = Instant::now();
    let bytes = std::fs::read(&path).unwrap();
    let f = churn_core::ingest::orders::read_orders(&bytes[..], &Default::default()).unwrap();
    println!(
        "  (reading the export alone: {:.0} ms, {} orders)",
        t.elapsed().as_secs_f64() * 1e3,
        f.orders.len()
    );
    for run in ["first import (empty history)", "same file again"] {
        let t = Instant::now();
        let r = churn_local::import_orders::import_orders(dir.path(), &path, "bench").unwrap();
        println!(
            "{run}: {:.0} ms — {} orders, {} history rows put, {} customers / {} cells changed",
            t.elapsed().as_secs_f64() * 1e3,
            r.orders,
            r.history_put,
            r.customers_changed,
            r.cells_changed
        );
    }
}
