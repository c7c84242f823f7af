"""The course notes' GIL timing table (效率测试), in Python: the twin of
examples/gil_timing.rs, with the same jobs, ways, options and output.

    python3 examples/gil_timing.py
    python3 examples/gil_timing.py --runs 2

Jobs: cpu is the notes' counting loop, count(x, y), whose steps also
advance a pseudo-random number (see cpu_job); io sleeps; file writes
--file-lines lines of "hello world" to a file of its own and reads them
back. Ways: line (one after another), threads (threading.Thread),
processes (multiprocessing.Process), tasks (asyncio coroutines; cpu and io
only). Each cell is the wall-clock time from the first start to the last
end. The GIL lets one thread run Python code at a time, so "threads" is no
faster than "line" on cpu; a thread waiting in time.sleep holds no GIL, so
the io waits overlap.
"""

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time


MASK = (1 << 64) - 1


def cpu_job(n):
    """The notes' count(x, y) loop; each step also advances a 64-bit linear
    congruential generator, as the Rust twin does (there, a loop that only
    counts would be deleted by the compiler)."""
    x, y, c = 1, 1, 0
    while c < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        y = (y + (x >> 33)) & MASK
        c += 1
    return x ^ y


def io_job(ms):
    time.sleep(ms / 1000)


def file_job(index, lines):
    path = os.path.join(tempfile.gettempdir(), f"gil_timing-{os.getpid()}-{index}.txt")
    with open(path, "w") as f:
        for _ in range(lines):
            f.write("hello world\n")
    with open(path) as f:
        read = len(f.readlines())
    os.remove(path)
    assert read == lines, read
    return read


def run_job(job, args, index):
    if job == "cpu":
        cpu_job(args.count)
    elif job == "io":
        io_job(args.sleep_ms)
    else:
        file_job(index, args.file_lines)


def line(args, job):
    start = time.perf_counter()
    for i in range(args.jobs):
        run_job(job, args, i)
    return time.perf_counter() - start


def threads(args, job):
    start = time.perf_counter()
    ts = [threading.Thread(target=run_job, args=(job, args, i)) for i in range(args.jobs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start


def processes(args, job):
    start = time.perf_counter()
    ps = [mp.Process(target=run_job, args=(job, args, i)) for i in range(args.jobs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        assert p.exitcode == 0, p.exitcode
    return time.perf_counter() - start


def tasks(args, job):
    if job == "file":
        return None

    async def one():
        if job == "cpu":
            cpu_job(args.count)
        else:
            await asyncio.sleep(args.sleep_ms / 1000)

    async def main():
        await asyncio.gather(*(one() for _ in range(args.jobs)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def seconds(t):
    return "-" if t is None else f"{t:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs per way (the notes: 10)")
    parser.add_argument("--count", type=int, default=2_000_000, help="steps of one cpu job")
    parser.add_argument("--sleep-ms", type=int, default=500, help="how long one io job sleeps")
    parser.add_argument("--file-lines", type=int, default=1_000_000, help="lines one file job writes and reads")
    parser.add_argument("--runs", type=int, default=1, help="how many times to measure the table")
    args = parser.parse_args()
    print(
        f"gil_timing (Python {sys.version.split()[0]}, start method {mp.get_start_method()}): "
        f"{args.jobs} jobs; cpu: {args.count} steps; io: sleep {args.sleep_ms} ms; "
        f"file: {args.file_lines} lines; {os.cpu_count()} CPUs"
    )
    jobs = ["cpu", "io", "file"]
    # Warm up with one untimed "line" of cpu jobs: in a fresh interpreter,
    # whichever way was measured first ran its cpu jobs 10-35% slower than
    # the same way measured again (cause not investigated).
    print(f"warm-up: {args.jobs} cpu jobs, untimed", flush=True)
    line(args, "cpu")
    for run in range(1, args.runs + 1):
        print(f"run {run}, load average {load_average()}")
        print(f"{'way':<10} {'cpu s':>8} {'io s':>8} {'file s':>8}")
        for name, way in [("line", line), ("threads", threads), ("processes", processes), ("tasks", tasks)]:
            cells = [seconds(way(args, job)) for job in jobs]
            print(f"{name:<10} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8}", flush=True)
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
