//! A shell pipeline, `sort | wc -l`, built by hand with spindle's async
//! child processes: we feed `sort`'s stdin, read what it prints, pass it on
//! to `wc -l`'s stdin, and read the count.
//!
//! ```text
//! cargo run --example subprocess_pipe
//! ```
//!
//! Every pipe end on our side is non-blocking and registered with the
//! reactor, so the three jobs (feeding sort, pumping sort into wc, reading
//! wc) interleave on one thread. None of them can deadlock the others by
//! filling a pipe: whoever would block just waits for the reactor instead.

use clap::Parser;
use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::process::{Command, Stdio};

const TEXT: &str = "\
pear
apple
fig
banana
cherry
apple
date
";

/// The shell pipeline `sort | wc -l`, built by hand with spindle's async
/// child processes. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "subprocess_pipe")]
struct Args {}

fn main() -> std::io::Result<()> {
    Args::parse();
    spindle::block_on(async {
        let mut sort = Command::new("sort")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut wc = Command::new("wc")
            .arg("-l")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        println!(
            "spawned sort (pid {}) and wc -l (pid {})",
            sort.id().unwrap(),
            wc.id().unwrap()
        );

        // 1. Feed sort in a task of its own, then close its stdin: sort only
        //    prints once it has seen the end of its input.
        let mut sort_in = sort.stdin.take().expect("piped");
        let feeder = spindle::spawn(async move {
            sort_in.write_all(TEXT.as_bytes()).await?;
            sort_in.shutdown().await
        });

        // 2. Pump sort's output into wc, keeping a copy to show.
        let mut sort_out = sort.stdout.take().expect("piped");
        let mut wc_in = wc.stdin.take().expect("piped");
        let mut sorted = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sort_out.read(&mut buf).await?;
            if n == 0 {
                break; // sort closed its stdout: it is done
            }
            sorted.extend_from_slice(&buf[..n]);
            wc_in.write_all(&buf[..n]).await?;
        }
        wc_in.shutdown().await?; // end of wc's input

        // 3. Read the count.
        let mut count = String::new();
        wc.stdout
            .take()
            .expect("piped")
            .read_to_string(&mut count)
            .await?;

        feeder.await.expect("the feeder task panicked")?;
        let sort_status = sort.wait().await?;
        let wc_status = wc.wait().await?;

        println!("sort printed:");
        for line in String::from_utf8_lossy(&sorted).lines() {
            println!("    {line}");
        }
        println!("wc -l counted {} lines", count.trim());
        println!("sort exited with {sort_status}, wc with {wc_status}");

        // The one-call form, for when you just want the result.
        let out = Command::new("sh")
            .args(["-c", "echo on stdout; echo on stderr >&2; exit 3"])
            .output()
            .await?;
        println!(
            "sh -c ...: {} | stdout {:?} | stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })
}
