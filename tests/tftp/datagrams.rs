//! Hand-made TFTP datagrams on a plain std UDP socket: for the tests that
//! play a client misbehaving in a precise way (vanishing, butting in,
//! sending garbage), and for checking ERROR codes on the wire.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use super::TIMEOUT;

/// A plain UDP socket on loopback with a read timeout.
pub fn raw_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket
}

pub fn request(opcode: u8, name: &str) -> Vec<u8> {
    let mut packet = vec![0, opcode];
    packet.extend_from_slice(name.as_bytes());
    packet.push(0);
    packet.extend_from_slice(b"octet\0");
    packet
}

pub fn rrq(name: &str) -> Vec<u8> {
    request(1, name)
}

pub fn wrq(name: &str) -> Vec<u8> {
    request(2, name)
}

pub fn ack(block: u16) -> Vec<u8> {
    let [hi, lo] = block.to_be_bytes();
    vec![0, 4, hi, lo]
}

pub fn data(block: u16, bytes: &[u8]) -> Vec<u8> {
    let [hi, lo] = block.to_be_bytes();
    let mut packet = vec![0, 3, hi, lo];
    packet.extend_from_slice(bytes);
    packet
}

/// Receives one datagram: its bytes and sender.
pub fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 1024];
    let (n, from) = socket.recv_from(&mut buf).expect("a reply in time");
    (buf[..n].to_vec(), from)
}

/// Receives a DATA packet; returns its block number, payload and sender.
pub fn receive_data(socket: &UdpSocket) -> (u16, Vec<u8>, SocketAddr) {
    let (packet, from) = receive(socket);
    assert_eq!(packet[..2], [0, 3], "expected DATA, got {packet:?}");
    (
        u16::from_be_bytes([packet[2], packet[3]]),
        packet[4..].to_vec(),
        from,
    )
}

/// Receives DATA block `block`, skipping retransmissions of earlier blocks
/// (a slow test may see some); returns its payload and sender.
pub fn receive_block(socket: &UdpSocket, block: u16) -> (Vec<u8>, SocketAddr) {
    loop {
        let (got, bytes, from) = receive_data(socket);
        if got == block {
            return (bytes, from);
        }
        assert!(got < block, "expected DATA {block}, got DATA {got}");
    }
}

/// Receives an ERROR packet; returns its code, message and sender.
pub fn receive_error(socket: &UdpSocket) -> (u16, String, SocketAddr) {
    let (packet, from) = receive(socket);
    assert!(
        packet.len() >= 5 && packet[..2] == [0, 5] && packet.last() == Some(&0),
        "expected ERROR, got {packet:?}"
    );
    let code = u16::from_be_bytes([packet[2], packet[3]]);
    let message = String::from_utf8_lossy(&packet[4..packet.len() - 1]).into_owned();
    (code, message, from)
}

/// How many datagrams are already queued on `socket`, drained without waiting.
pub fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    socket.set_nonblocking(true).unwrap();
    let mut queued = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => queued.push(buf[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("recv: {e}"),
        }
    }
    socket.set_nonblocking(false).unwrap();
    queued
}
