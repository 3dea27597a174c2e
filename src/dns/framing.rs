//! DNS over TCP framing (RFC 1035 4.2.2, RFC 7766): every message is preceded by its length
//! as two bytes, big-endian. Shared by the TCP listeners and the upstream client.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// `msg` with its length in front; `None` when it is longer than a frame can say.
pub fn frame(msg: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(msg.len()).ok()?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    Some(framed)
}

/// Reads the length that starts a frame.
pub async fn read_len<R: AsyncRead + Unpin>(stream: &mut R) -> io::Result<usize> {
    Ok(usize::from(stream.read_u16().await?))
}

/// Reads a frame's `len` bytes of message into `buf` (resized to fit).
pub async fn read_body<R: AsyncRead + Unpin>(
    stream: &mut R,
    len: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.resize(len, 0);
    stream.read_exact(buf).await.map(|_| ())
}

/// Reads one whole frame's message into `buf`.
pub async fn read_frame<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> io::Result<()> {
    let len = read_len(stream).await?;
    read_body(stream, len, buf).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_length_then_the_message() {
        assert_eq!(frame(b"abc"), Some(vec![0, 3, b'a', b'b', b'c']));
        assert_eq!(frame(&[7; 258]).map(|f| f[..2].to_vec()), Some(vec![1, 2]));
        assert_eq!(frame(&[0; 65_535]).map(|f| f.len()), Some(65_537));
        assert_eq!(frame(&[0; 65_536]), None);
    }

    #[tokio::test]
    async fn frames_read_back_one_by_one() {
        let mut wire = frame(b"first").expect("frame");
        wire.extend(frame(&[9; 300]).expect("frame"));
        wire.extend([0, 5, b's', b'h']); // a frame cut short
        let mut stream = &wire[..];
        let mut buf = Vec::new();
        read_frame(&mut stream, &mut buf).await.expect("first");
        assert_eq!(buf, b"first");
        read_frame(&mut stream, &mut buf).await.expect("second");
        assert_eq!(buf, vec![9; 300]);
        let cut = read_frame(&mut stream, &mut buf)
            .await
            .expect_err("cut short");
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
    }
}
