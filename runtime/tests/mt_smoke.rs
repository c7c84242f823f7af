use std::time::{Duration, Instant};
use spindle_runtime::{Runtime, spawn};

#[test]
fn smoke() {
    let rt = Runtime::builder().multi_thread().worker_threads(2).build().unwrap();
    let n = rt.block_on(async {
        let hs: Vec<_> = (0..10000u64).map(|i| spawn(async move { i })).collect();
        let mut s = 0;
        for h in hs { s += h.await.unwrap(); }
        s
    });
    assert_eq!(n, 10000 * 9999 / 2);
    let t = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..2).map(|_| spawn(async { let mut x = 0u64; for i in 0..200_000_000u64 { x = x.wrapping_add(i * i); } std::hint::black_box(x) })).collect();
        for h in hs { h.await.unwrap(); }
    });
    eprintln!("two cpu tasks: {:?}", t.elapsed());
    rt.block_on(async {
        spindle_runtime::time::sleep(Duration::from_millis(10)).await;
        let h = spawn(async { spindle_runtime::time::sleep(Duration::from_millis(10)).await; 5 });
        assert_eq!(h.await.unwrap(), 5);
    });
    eprintln!("{:?}", rt.handle().metrics());
    let m = rt.handle().metrics();
    for w in 0..2 { eprintln!("w{w}: polls {} steals {} parks {}", m.worker_poll_count(w), m.worker_steal_count(w), m.worker_park_count(w)); }
}
