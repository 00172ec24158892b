//! The terminal's camera for 顔認証: where a frame comes from when the kiosk asks for one.
//!
//! Invariants: a frame is read into a [`Sensitive`] buffer (zeroed when dropped, counted by
//! [`kakunin_face::live_face_buffers`]), decoded, and handed to the matcher; nothing here writes
//! a file, keeps a frame after the capture, or logs anything of it. A stream's frames that no
//! capture asked for are wiped as they arrive.

use kakunin_face::{Picture, Sensitive};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Largest frame accepted (a 1080p JPEG is a few hundred KB).
const MAX_FRAME: usize = 16 << 20;

/// How long a capture waits for a stream's next frame.
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no frame could be had.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("camera: {0}")]
    Unavailable(String),
    #[error("camera frame: {0}")]
    Picture(#[from] kakunin_face::FaceError),
}

/// Where frames come from (`--camera`).
#[derive(Debug)]
pub enum Camera {
    /// `file:PATH`: a still that the camera software keeps replacing (on a tmpfs, say); read
    /// afresh at every capture.
    File(PathBuf),
    /// `stream:PATH`: an MJPEG stream (a FIFO or a device giving JPEG frames back to back, as
    /// `ffmpeg -f v4l2 -i /dev/video0 -f mjpeg PATH` writes); a capture takes the next complete
    /// frame.
    Stream(StreamReader),
    /// `test:DIR`: the test camera. It shows the holder of the virtual card on the reader:
    /// `DIR/<card>.jpg` (or `.png`) for the card file `<card>.vcard`; no picture there means
    /// nobody stands in front of it.
    Test(PathBuf),
}

impl Camera {
    /// From its `--camera` form: `file:PATH`, `stream:PATH` or `test:DIR`.
    pub fn parse(spec: &str) -> Result<Camera, String> {
        match spec.split_once(':') {
            Some(("file", path)) if !path.is_empty() => Ok(Camera::File(path.into())),
            Some(("stream", path)) if !path.is_empty() => {
                Ok(Camera::Stream(StreamReader::open(Path::new(path))))
            }
            Some(("test", dir)) if !dir.is_empty() => Ok(Camera::Test(dir.into())),
            _ => Err(format!(
                "unknown camera {spec:?}: use file:PATH, stream:PATH or test:DIR"
            )),
        }
    }

    /// One frame, decoded to grey. `card` names the virtual card on the reader (the test
    /// camera shows its holder).
    pub fn capture(&self, card: Option<&str>) -> Result<Picture, CameraError> {
        let bytes = match self {
            Camera::File(path) => read_limited(path)?,
            Camera::Stream(stream) => stream.next_frame(CAPTURE_TIMEOUT)?,
            Camera::Test(dir) => {
                let stem = card
                    .and_then(|c| Path::new(c).file_stem())
                    .ok_or_else(|| CameraError::Unavailable("no card on the reader".into()))?;
                let found = ["jpg", "jpeg", "png"]
                    .iter()
                    .map(|ext| dir.join(stem).with_extension(ext))
                    .find(|p| p.is_file())
                    .ok_or_else(|| {
                        CameraError::Unavailable("nobody in front of the test camera".into())
                    })?;
                read_limited(&found)?
            }
        };
        Ok(Picture::decode(&bytes)?)
    }
}

/// Reads a whole still into a wiped-on-drop buffer.
fn read_limited(path: &Path) -> Result<Sensitive<u8>, CameraError> {
    let unavailable =
        |e: std::io::Error| CameraError::Unavailable(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(unavailable)?;
    let size = file.metadata().map_err(unavailable)?.len() as usize;
    let mut bytes = Sensitive::with_capacity(size.min(MAX_FRAME) + 1);
    let mut chunk = Sensitive::new(vec![0u8; 64 << 10]);
    loop {
        let n = file.read(&mut chunk).map_err(unavailable)?;
        if n == 0 {
            return Ok(bytes);
        }
        if bytes.len() + n > MAX_FRAME {
            return Err(CameraError::Unavailable("the frame is too large".into()));
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// A thread reading an MJPEG stream: frames are cut at the JPEG markers; each is handed to the
/// waiting capture, if any, and wiped otherwise.
#[derive(Debug)]
pub struct StreamReader {
    requests: mpsc::Sender<mpsc::Sender<Sensitive<u8>>>,
}

impl StreamReader {
    /// Starts reading `path` (re-opened when it ends: a FIFO whose writer restarted).
    pub fn open(path: &Path) -> StreamReader {
        let (requests, waiting) = mpsc::channel::<mpsc::Sender<Sensitive<u8>>>();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("camera-stream".into())
            .spawn(move || loop {
                match std::fs::File::open(&path) {
                    Ok(file) => {
                        if pump(file, &waiting).is_err() {
                            return; // the terminal is gone
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "camera stream cannot be opened");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                if matches!(waiting.try_recv(), Err(mpsc::TryRecvError::Disconnected)) {
                    return;
                }
                // The stream ended (a file, or a writer that went away): read it again soon.
                std::thread::sleep(Duration::from_millis(100));
            })
            .expect("a thread starts");
        StreamReader { requests }
    }

    /// The next complete frame, waiting at most `timeout`.
    fn next_frame(&self, timeout: Duration) -> Result<Sensitive<u8>, CameraError> {
        let (reply, frame) = mpsc::channel();
        self.requests
            .send(reply)
            .map_err(|_| CameraError::Unavailable("the stream reader stopped".into()))?;
        frame
            .recv_timeout(timeout)
            .map_err(|_| CameraError::Unavailable("no frame from the camera stream".into()))
    }
}

/// Reads one opened stream until it ends; `Err` when nobody can ask for frames any more.
/// Frames are assembled only while a capture waits: otherwise the bytes are wiped as read.
fn pump(
    mut source: impl Read,
    waiting: &mpsc::Receiver<mpsc::Sender<Sensitive<u8>>>,
) -> Result<(), ()> {
    let mut cutter = FrameCutter::default();
    let mut pending: Vec<mpsc::Sender<Sensitive<u8>>> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        loop {
            match waiting.try_recv() {
                Ok(reply) => pending.push(reply),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return Err(()),
            }
        }
        cutter.armed = !pending.is_empty();
        let n = match source.read(&mut chunk) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => n,
        };
        let frames = cutter.push(&chunk[..n]);
        chunk[..n].fill(0);
        std::hint::black_box(&mut chunk);
        for frame in frames {
            // To the capture waiting longest; one that gave up passes it on. A frame nobody
            // waits for is dropped here, which wipes it.
            let mut frame = Some(frame);
            while let Some(f) = frame.take() {
                if pending.is_empty() {
                    break;
                }
                if let Err(mpsc::SendError(back)) = pending.remove(0).send(f) {
                    frame = Some(back);
                }
            }
        }
    }
}

/// Cuts a byte stream into JPEG frames (SOI `FF D8` … EOI `FF D9`), keeping only the frame
/// being assembled.
#[derive(Default)]
struct FrameCutter {
    /// A capture waits: start assembling at the next SOI (a frame begun is finished).
    armed: bool,
    frame: Option<Sensitive<u8>>,
    /// The previous byte was `FF` (a marker may straddle two reads).
    after_ff: bool,
}

impl FrameCutter {
    fn push(&mut self, bytes: &[u8]) -> Vec<Sensitive<u8>> {
        let mut done = Vec::new();
        for &b in bytes {
            let marker = self.after_ff;
            self.after_ff = b == 0xFF;
            match &mut self.frame {
                None => {
                    if self.armed && marker && b == 0xD8 {
                        let mut frame = Sensitive::with_capacity(256 << 10);
                        frame.extend_from_slice(&[0xFF, 0xD8]);
                        self.frame = Some(frame);
                    }
                }
                Some(frame) => {
                    frame.extend_from_slice(&[b]);
                    if frame.len() > MAX_FRAME {
                        // Not a JPEG stream, or a broken frame: start over at the next SOI.
                        self.frame = None;
                    } else if marker && b == 0xD9 {
                        done.extend(self.frame.take());
                        self.after_ff = false;
                    }
                }
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_the_markers_across_reads() {
        let a = [0xFF, 0xD8, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD9];
        let b = [0xFF, 0xD8, 9, 0xFF, 0xD9];
        let mut stream = vec![7, 7, 0xFF];
        stream.extend(a);
        stream.extend([0, 0]);
        stream.extend(b);
        for split in 0..stream.len() {
            let mut cutter = FrameCutter {
                armed: true,
                ..FrameCutter::default()
            };
            let mut frames = cutter.push(&stream[..split]);
            frames.extend(cutter.push(&stream[split..]));
            let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
            assert_eq!(frames, vec![a.to_vec(), b.to_vec()], "split at {split}");
        }
    }

    #[test]
    fn nothing_is_assembled_while_no_capture_waits() {
        let mut cutter = FrameCutter::default();
        assert!(cutter.push(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9]).is_empty());
        assert!(cutter.frame.is_none());
    }

    #[test]
    fn a_stream_hands_the_next_frame_to_a_capture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.mjpeg");
        // A still JPEG repeated: a "stream" that ends; the reader re-opens it.
        let jpeg = tiny_jpeg();
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend(&jpeg);
        }
        std::fs::write(&path, &bytes).unwrap();
        let camera = Camera::parse(&format!("stream:{}", path.display())).unwrap();
        let picture = camera.capture(None).unwrap();
        assert_eq!((picture.width(), picture.height()), (8, 8));
    }

    #[test]
    fn the_test_camera_shows_the_holder_of_the_card_on_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hanako.jpg"), tiny_jpeg()).unwrap();
        let camera = Camera::parse(&format!("test:{}", dir.path().display())).unwrap();
        assert!(camera.capture(Some("hanako.vcard")).is_ok());
        assert!(matches!(
            camera.capture(Some("taro.vcard")),
            Err(CameraError::Unavailable(_))
        ));
        assert!(camera.capture(None).is_err());
        let file = Camera::parse(&format!("file:{}", dir.path().join("hanako.jpg").display()));
        assert!(file.unwrap().capture(None).is_ok());
        assert!(Camera::parse("usb:0").is_err());
        // Garbage is refused with an error, not a panic.
        std::fs::write(dir.path().join("bad.jpg"), b"not a picture").unwrap();
        assert!(matches!(
            camera.capture(Some("bad.vcard")),
            Err(CameraError::Picture(_))
        ));
    }

    /// An 8 × 8 grey JPEG (a gradient).
    fn tiny_jpeg() -> Vec<u8> {
        include_bytes!("../tests/fixtures/grey8x8.jpg").to_vec()
    }
}
