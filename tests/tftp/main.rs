//! The `tftp_server` and `tftp_client` examples against a real TFTP
//! implementation, tftp-hpa's `tftp` client (apt package `tftp-hpa`,
//! installed by `.ci/run`), and against hand-made datagrams: whole files
//! byte-identical both ways (5 MB, exact multiples of 512, past block
//! 65535), every refusal with its ERROR code, a client that vanishes, a
//! stranger's datagrams, and malformed ones.
//!
//! Like tests/io_models.rs, this runs the example binaries that `cargo
//! test` builds into `target/<profile>/examples/` (run `cargo build
//! --examples` first when running only this test). Every server listens on
//! an ephemeral loopback port, read from its first line; every blocking
//! step has a timeout, and every `tftp` run is under `timeout(1)`.

mod datagrams;
mod harness;
#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use datagrams::*;
use harness::*;

/// Bound on every wait for a datagram or a log line.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The server's options for tests where a client goes silent: a transfer
/// gives up after 3 retransmissions 200 ms apart.
const QUICK: [&str; 4] = ["--timeout-ms", "200", "--retries", "3"];

// ---------------------------------------------------------------------
// tftp-hpa against the server.

#[test]
fn tftp_hpa_gets_a_5_mb_file_byte_identical() {
    let dir = TempDir::new("get5");
    let local = TempDir::new("get5-local");
    let file = dir.random_file("big.bin", 5_000_000);
    let server = Server::start(&dir, &[]);
    let out = local.path("big.bin");
    let text = tftp_hpa(server.addr, &format!("get big.bin {}", path_arg(&out)));
    assert!(!text.contains("Error"), "{text}");
    assert_same(&out, &file);
    server.wait_for_line(&["RRQ \"big.bin\"", "sent 5000000 bytes"]);
}

#[test]
fn tftp_hpa_puts_a_5_mb_file_byte_identical() {
    let dir = TempDir::new("put5");
    let local = TempDir::new("put5-local");
    let file = local.random_file("up.bin", 5_000_000);
    let server = Server::start(&dir, &[]);
    let src = local.path("up.bin");
    let text = tftp_hpa(server.addr, &format!("put {} up.bin", path_arg(&src)));
    assert!(!text.contains("Error"), "{text}");
    // The server renames the file into place before its last ACK, so it
    // is complete as soon as the client is done.
    assert_same(&dir.path("up.bin"), &file);
    assert_eq!(dir.names(), ["up.bin"], "no temporary file left behind");
    server.wait_for_line(&["WRQ \"up.bin\"", "received 5000000 bytes"]);
}

#[test]
fn files_of_exactly_k_blocks_end_with_an_empty_block() {
    let dir = TempDir::new("exact");
    let local = TempDir::new("exact-local");
    let server = Server::start(&dir, &[]);
    for blocks in [0, 1, 100] {
        let name = format!("exact{blocks}");
        let file = dir.random_file(&name, 512 * blocks);
        let out = local.path(&name);
        tftp_hpa(server.addr, &format!("get {name} {}", path_arg(&out)));
        assert_same(&out, &file);
        let back = format!("back{blocks}");
        tftp_hpa(server.addr, &format!("put {} {back}", path_arg(&out)));
        assert_same(&dir.path(&back), &file);
    }
    // The wire: a 2-block file is DATA 1 and 2 of 512 bytes, then an
    // empty DATA 3.
    dir.random_file("two", 1024);
    let client = raw_socket();
    client.send_to(&rrq("two"), server.addr).unwrap();
    for (block, len) in [(1, 512), (2, 512), (3, 0)] {
        let (bytes, tid) = receive_block(&client, block);
        assert_eq!(bytes.len(), len, "DATA {block}");
        client.send_to(&ack(block), tid).unwrap();
    }
}

#[test]
fn block_numbers_wrap_past_65535() {
    // 65,536 full blocks and a short one: block numbers go 1..=65535, 0, 1.
    let dir = TempDir::new("wrap");
    let local = TempDir::new("wrap-local");
    let file = dir.random_file("wrap.bin", 65_536 * 512 + 700);
    let server = Server::start(&dir, &[]);
    let out = local.path("wrap.bin");
    tftp_hpa(server.addr, &format!("get wrap.bin {}", path_arg(&out)));
    assert_same(&out, &file);
    tftp_hpa(
        server.addr,
        &format!("put {} wrap-back.bin", path_arg(&out)),
    );
    assert_same(&dir.path("wrap-back.bin"), &file);
}

#[test]
fn a_missing_file_is_an_error_packet_the_client_reports() {
    let dir = TempDir::new("missing");
    let local = TempDir::new("missing-local");
    let server = Server::start(&dir, &[]);
    let out = local.path("nothing");
    let text = tftp_hpa(server.addr, &format!("get nothing {}", path_arg(&out)));
    assert!(
        text.contains("Error code 1") && text.contains("File not found"),
        "{text}"
    );
    // The same, on the wire.
    let client = raw_socket();
    client.send_to(&rrq("nothing"), server.addr).unwrap();
    let (code, _, _) = receive_error(&client);
    assert_eq!(code, 1);
}

#[test]
fn netascii_is_refused_with_an_error() {
    let dir = TempDir::new("netascii");
    let local = TempDir::new("netascii-local");
    dir.random_file("text", 100);
    let server = Server::start(&dir, &[]);
    let out = local.path("text");
    let text = tftp_hpa_in_mode(
        server.addr,
        "netascii",
        &format!("get text {}", path_arg(&out)),
    );
    assert!(
        text.contains("Error code 0") && text.contains("octet"),
        "{text}"
    );
}

#[test]
fn paths_outside_the_directory_are_refused() {
    let outside = TempDir::new("outside");
    std::fs::write(outside.path("secret"), b"secret").unwrap();
    let dir = TempDir::new("jail");
    std::fs::create_dir(dir.path("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path("secret"), dir.path("link")).unwrap();
    std::os::unix::fs::symlink(&outside.0, dir.path("door")).unwrap();
    let server = Server::start(&dir, &[]);
    let secret = outside.path("secret");
    // `../spindle-tftp-...-outside-N`: the outside directory, seen from the jail.
    let out_dir = format!("../{}", outside.0.file_name().unwrap().to_str().unwrap());
    let reads = [
        "../secret".to_owned(),
        format!("{out_dir}/secret"),
        format!("sub/../{out_dir}/secret"),
        path_arg(&secret).to_owned(),
        "link".to_owned(),
        "door/secret".to_owned(),
    ];
    let writes = [
        "../new".to_owned(),
        format!("{out_dir}/new"),
        format!("sub/../{out_dir}/new"),
        path_arg(&outside.path("new")).to_owned(),
        "door/new".to_owned(),
    ];
    let client = raw_socket();
    for (packet, name) in reads
        .iter()
        .map(|n| (rrq(n), n))
        .chain(writes.iter().map(|n| (wrq(n), n)))
    {
        client.send_to(&packet, server.addr).unwrap();
        let (code, message, _) = receive_error(&client);
        assert_eq!(code, 2, "{name:?}: {message}");
    }
    assert_eq!(outside.names(), ["secret"], "nothing written outside");
    assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
    let local = TempDir::new("jail-local");
    let out = local.path("x");
    let text = tftp_hpa(server.addr, &format!("get ../secret {}", path_arg(&out)));
    assert!(text.contains("Error code 2"), "{text}");
}

#[test]
fn a_vanished_client_is_given_up_and_others_are_served_meanwhile() {
    let dir = TempDir::new("vanish");
    let local = TempDir::new("vanish-local");
    dir.random_file("long", 20 * 512);
    let other = dir.random_file("other", 300_000);
    let server = Server::start(&dir, &QUICK);
    // A client that acknowledges three blocks, then goes silent.
    let quitter = raw_socket();
    quitter.send_to(&rrq("long"), server.addr).unwrap();
    for block in 1..=3 {
        let (_, tid) = receive_block(&quitter, block);
        quitter.send_to(&ack(block), tid).unwrap();
    }
    // Meanwhile another client is served in full.
    let out = local.path("other");
    tftp_hpa(server.addr, &format!("get other {}", path_arg(&out)));
    assert_same(&out, &other);
    let line = server.wait_for_line(&["RRQ \"long\"", "gave up"]);
    assert!(line.contains("3 retransmissions"), "{line}");
    // Block 4, sent once and retransmitted 3 times, all before the log
    // line (and nothing after block 4).
    let queued = drain(&quitter);
    let block_4 = queued.iter().filter(|p| p[..4] == [0, 3, 0, 4]).count();
    assert_eq!(block_4, 4, "{queued:?}");
    assert!(
        queued.iter().all(|p| p[..2] == [0, 3] && p[3] <= 4),
        "{queued:?}"
    );
    // And the server still serves.
    let again = local.path("again");
    tftp_hpa(server.addr, &format!("get other {}", path_arg(&again)));
    assert_same(&again, &other);
}

#[test]
fn a_writer_that_vanishes_leaves_no_file() {
    let dir = TempDir::new("vanish-put");
    let server = Server::start(&dir, &QUICK);
    let quitter = raw_socket();
    quitter.send_to(&wrq("half"), server.addr).unwrap();
    let (packet, tid) = receive(&quitter);
    assert_eq!(packet, ack(0));
    quitter.send_to(&data(1, &[7; 512]), tid).unwrap();
    // (A slow test may see ACK 0 again first.)
    while receive(&quitter).0 != ack(1) {}
    server.wait_for_line(&["WRQ \"half\"", "gave up"]);
    assert!(dir.names().is_empty(), "left behind: {:?}", dir.names());
}

#[test]
fn malformed_packets_get_error_4_and_cost_nothing_else() {
    let dir = TempDir::new("malformed");
    let local = TempDir::new("malformed-local");
    let file = dir.random_file("file", 2000);
    let mut server = Server::start(&dir, &[]);
    let garbage: [&[u8]; 8] = [
        b"",
        b"\x01",
        b"\x00\x09hello\x00octet\x00",
        b"\x00\x01no-terminator\x00octet",
        b"\x00\x01file\x00",
        b"\x00\x01file\x00bogus-mode\x00",
        b"\x00\x03\x00\x01stray data",
        b"\x00\x04\x00\x01",
    ];
    let client = raw_socket();
    for packet in garbage {
        client.send_to(packet, server.addr).unwrap();
        let (code, message, from) = receive_error(&client);
        assert_eq!(code, 4, "{packet:?}: {message}");
        assert_eq!(from, server.addr, "answered from the main port");
    }
    // An ERROR is never answered; the next request is served as usual.
    client
        .send_to(b"\x00\x05\x00\x00oops\x00", server.addr)
        .unwrap();
    let out = local.path("file");
    tftp_hpa(server.addr, &format!("get file {}", path_arg(&out)));
    assert_same(&out, &file);
    assert!(drain(&client).is_empty(), "the ERROR was answered");
    server.assert_alive();
}

#[test]
fn a_peer_that_breaks_the_protocol_ends_its_own_transfer_only() {
    let dir = TempDir::new("peer-faults");
    let local = TempDir::new("peer-faults-local");
    let file = dir.random_file("file", 5 * 512);
    let server = Server::start(&dir, &[]);
    // Garbage, a DATA where an ACK belongs, and an ERROR (the client
    // giving up), each in the middle of a read of its own.
    let faults: [(&[u8], Option<u16>, &str); 3] = [
        (b"\x00\x09", Some(4), "protocol error: malformed packet"),
        (
            b"\x00\x03\x00\x01data",
            Some(4),
            "protocol error: unexpected DATA",
        ),
        (b"\x00\x05\x00\x00stop\x00", None, "the peer sent error 0"),
    ];
    for (fault, answer, logged) in faults {
        let client = raw_socket();
        client.send_to(&rrq("file"), server.addr).unwrap();
        let (_, tid) = receive_block(&client, 1);
        client.send_to(fault, tid).unwrap();
        if let Some(code) = answer {
            assert_eq!(receive_error(&client).0, code, "{fault:?}");
        }
        let line = server.wait_for_line(&[&client.local_addr().unwrap().to_string()]);
        // (The outcome is logged when the transfer's task ends.)
        assert!(line.contains(logged), "{line}");
    }
    let out = local.path("file");
    tftp_hpa(server.addr, &format!("get file {}", path_arg(&out)));
    assert_same(&out, &file);
}

#[test]
fn a_stranger_gets_error_5_and_the_transfer_goes_on() {
    let dir = TempDir::new("stranger");
    let file = dir.random_file("file", 3 * 512 + 10);
    let server = Server::start(&dir, &[]);
    let client = raw_socket();
    let stranger = raw_socket();
    client.send_to(&rrq("file"), server.addr).unwrap();
    let mut received = Vec::new();
    let mut block = 1;
    loop {
        let (bytes, tid) = receive_block(&client, block);
        assert_ne!(tid, server.addr, "a transfer has a port of its own");
        received.extend_from_slice(&bytes);
        // The stranger butts in (with the right block, even); then garbage.
        stranger.send_to(&ack(block), tid).unwrap();
        assert_eq!(receive_error(&stranger).0, 5);
        stranger.send_to(b"\x07", tid).unwrap();
        assert_eq!(receive_error(&stranger).0, 5);
        client.send_to(&ack(block), tid).unwrap();
        if bytes.len() < 512 {
            break;
        }
        block += 1;
    }
    assert!(received == file, "the transfer was disturbed");
}

#[test]
fn duplicates_are_answered_once_and_never_doubled() {
    let dir = TempDir::new("dup");
    let file = dir.random_file("file", 2 * 512 + 5);
    // Long timeouts: every packet below is an answer, never a retransmission.
    let server = Server::start(&dir, &["--timeout-ms", "5000"]);
    // Reading: a duplicate ACK is ignored. Answering it with the next block
    // again would double every block from then on (the Sorcerer's
    // Apprentice bug): DATA 2 would arrive twice, then DATA 3 twice.
    let reader = raw_socket();
    reader.send_to(&rrq("file"), server.addr).unwrap();
    let mut got = Vec::new();
    for block in 1..=3 {
        let (number, bytes, tid) = receive_data(&reader);
        assert_eq!(number, block);
        got.extend_from_slice(&bytes);
        reader.send_to(&ack(block), tid).unwrap();
        reader.send_to(&ack(block), tid).unwrap();
    }
    assert!(got == file);
    // Writing: a block sent twice (as when its ACK is lost) is acknowledged
    // twice and written once; the last one too, after the file is in place
    // (the server stays a while for it).
    let writer = raw_socket();
    writer.send_to(&wrq("copy"), server.addr).unwrap();
    let (packet, tid) = receive(&writer);
    assert_eq!(packet, ack(0));
    for (i, chunk) in file.chunks(512).enumerate() {
        let block = i as u16 + 1;
        for _ in 0..2 {
            writer.send_to(&data(block, chunk), tid).unwrap();
            assert_eq!(receive(&writer).0, ack(block));
        }
    }
    assert_same(&dir.path("copy"), &file);
    assert!(drain(&reader).is_empty(), "a block was sent twice");
}

#[test]
fn a_write_does_not_replace_a_file_unless_asked() {
    let dir = TempDir::new("exists");
    let local = TempDir::new("exists-local");
    std::fs::write(dir.path("taken"), b"old").unwrap();
    let new = local.random_file("new", 1000);
    let server = Server::start(&dir, &[]);
    let text = tftp_hpa(
        server.addr,
        &format!("put {} taken", path_arg(&local.path("new"))),
    );
    assert!(text.contains("Error code 6"), "{text}");
    assert_eq!(std::fs::read(dir.path("taken")).unwrap(), b"old");
    drop(server);
    let server = Server::start(&dir, &["--replace"]);
    tftp_hpa(
        server.addr,
        &format!("put {} taken", path_arg(&local.path("new"))),
    );
    assert_same(&dir.path("taken"), &new);
}

// ---------------------------------------------------------------------
// The tftp_client example.

#[test]
fn our_client_gets_and_puts_byte_identical() {
    let dir = TempDir::new("ours");
    let local = TempDir::new("ours-local");
    let server = Server::start(&dir, &[]);
    for (name, len) in [("a", 1_000_000), ("b", 512 * 7), ("c", 0), ("d", 1)] {
        let file = dir.random_file(name, len);
        let out = local.path(name);
        let run = our_client(server.addr, &["get", name, path_arg(&out)]);
        assert!(run.status.success(), "get {name}: {}", text_of(&run));
        assert_same(&out, &file);
        let back = format!("{name}-back");
        let run = our_client(server.addr, &["put", path_arg(&out), &back]);
        assert!(run.status.success(), "put {back}: {}", text_of(&run));
        assert_same(&dir.path(&back), &file);
    }
}

#[test]
fn our_client_reports_the_servers_error_and_leaves_no_file() {
    let dir = TempDir::new("ours-err");
    let local = TempDir::new("ours-err-local");
    let server = Server::start(&dir, &[]);
    let out = local.path("nothing");
    let run = our_client(server.addr, &["get", "nothing", path_arg(&out)]);
    assert_eq!(run.status.code(), Some(1), "{}", text_of(&run));
    let text = text_of(&run);
    assert!(text.contains("error 1 (File not found)"), "{text}");
    assert!(local.names().is_empty(), "left behind: {:?}", local.names());
    let run = our_client(server.addr, &["get", "../x", path_arg(&out)]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text_of(&run).contains("error 2 (Access violation)"));
}

#[test]
fn our_client_gives_up_on_a_silent_server() {
    let silent = raw_socket();
    let local = TempDir::new("silent-local");
    let out = local.path("x");
    let started = Instant::now();
    let run = our_client(
        silent.local_addr().unwrap(),
        &[
            "--timeout-ms",
            "100",
            "--retries",
            "2",
            "get",
            "x",
            path_arg(&out),
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text_of(&run));
    assert!(text_of(&run).contains("gave up"), "{}", text_of(&run));
    assert!(started.elapsed() < TIMEOUT);
    // The request, sent once and retransmitted twice.
    let requests = drain(&silent);
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests.iter().all(|p| *p == rrq("x")));
    assert!(local.names().is_empty(), "left behind: {:?}", local.names());
}
