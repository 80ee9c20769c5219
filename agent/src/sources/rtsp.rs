//! Network cameras over RTSP (Hikvision/Dahua-style H.264 over RTP): [`RtspSource`].
//!
//! **Why these crates.** RTSP/RTP comes from `retina` (pure Rust, async on tokio) and H.264 decoding
//! from `openh264` (Cisco's decoder, compiled by cargo from its vendored C++ source). ffmpeg would
//! decode more codecs, but its Rust bindings need Debian's `libav*-dev` at build time and the libraries
//! on every box, and it would put a large C demuxer on untrusted network input; with these two crates
//! `cargo build` on a fresh machine is enough. Only H.264 is decoded: a camera streaming H.265 (many
//! Hikvision main streams do by default) is refused with a message saying to switch that stream to H.264
//! — usually the sub-stream, whose resolution suits face detection anyway.
//!
//! **Threads.** [`FrameSource`] is synchronous and each camera worker owns a thread. The RTSP session
//! runs on a second thread per camera with a small current-thread tokio runtime: it reads the stream,
//! depacketises it (retina, Annex B with SPS/PPS before each key frame), and decodes **every** access
//! unit — H.264 frames depend on the ones before, so frames can only be dropped after decoding. Each
//! decoded RGB frame goes into a one-frame [`Latest`] slot, replacing any frame the worker has not taken
//! yet: a live camera drops the frames the vision stage cannot keep up with and never builds a backlog
//! ([`FrameSource::is_recording`] is false). The worker takes from the slot; when the session thread
//! fails (refused, unauthorised, no frame for [`STALL_TIMEOUT`], the camera hung up) the next
//! [`FrameSource::next_frame`] returns [`SourceError::Unavailable`] and the worker's back-off calls
//! [`FrameSource::reopen`], which starts a fresh session. Opening never blocks: a camera that is down
//! when the agent starts is reported offline, it does not stop the agent.
//!
//! **Capture time.** A frame is stamped from its RTP timestamp, not from when it was decoded or looked
//! at: `capture = rtp_time + offset`, where `offset` is the smallest `arrival − rtp_time` seen so far
//! (the arrival of the first frame anchors it to the box's wall clock; later frames that arrive sooner
//! pull it earlier, so the stamp approaches the true capture time as the least-delayed frame is seen).
//! A frame that arrives more than [`MAX_LAG_MS`] after its stamp (a camera clock running slow, an RTP
//! timestamp jump) re-anchors the clock; stamps never go backwards. RTCP sender reports are not used:
//! they carry the camera's own wall clock, and a ward camera's clock is often wrong by minutes, while the
//! box's clock is the one the agent watches for jumps.
//!
//! **Credentials.** They may be in the URL or in `username`/`password`; either way they are taken out
//! of the URL handed to retina (which sends them only on a digest/basic challenge), and every message
//! names the camera by [`RtspEndpoint::shown`]: the URL with the user name but never the password.
//!
//! Live sources report position 0 on every frame: there is nothing to resume, and a constant position
//! makes the pipeline commit no checkpoint per frame.

use super::frame::{Frame, FrameSource, SourceError};
use super::latest::{Latest, LiveFeed};
use futures_util::StreamExt;
use openh264::formats::YUVSource;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use url::Url;
use wardwatch_protocol::{CameraId, Timestamp};

/// How long DESCRIBE, SETUP and PLAY together may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A playing stream that delivers no video frame for this long is given up (and reopened).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame arriving this much later than its RTP-derived stamp re-anchors the clock.
pub const MAX_LAG_MS: i64 = 2_000;

/// How an RTSP camera's RTP packets travel (a camera source's `transport`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspTransport {
    /// Interleaved on the RTSP TCP connection: no packet loss, passes NAT and firewalls.
    #[default]
    Tcp,
    /// Separate UDP ports: lower latency on a clean LAN, frames lost with packets.
    Udp,
}

/// Where and how to reach an RTSP camera: the URL without credentials, the credentials apart.
#[derive(Clone)]
pub struct RtspEndpoint {
    url: Url,
    credentials: Option<Credentials>,
    transport: RtspTransport,
}

impl std::fmt::Debug for RtspEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspEndpoint")
            .field("url", &self.shown())
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl RtspEndpoint {
    /// Checks a camera's URL and credentials. Credentials may be in the URL (percent-encoded) or given
    /// apart, not both. The error never repeats the password.
    pub fn new(
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
        transport: RtspTransport,
    ) -> Result<RtspEndpoint, String> {
        let mut parsed =
            Url::parse(url).map_err(|e| format!("is not a URL like rtsp://host/path ({e})"))?;
        if parsed.scheme() != "rtsp" {
            return Err(format!(
                "must start with rtsp:// (scheme {:?} is not supported)",
                parsed.scheme()
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err("names no host".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "has credentials that are not valid UTF-8 once decoded".to_owned())
        };
        let in_url = match (parsed.username(), parsed.password()) {
            ("", None) => None,
            (user, pass) => Some((decode(user)?, decode(pass.unwrap_or(""))?)),
        };
        let apart = match (username, password) {
            (None, None) => None,
            (Some(user), pass) => Some((user.to_owned(), pass.unwrap_or("").to_owned())),
            (None, Some(_)) => return Err("has a password but no username".into()),
        };
        let credentials = match (in_url, apart) {
            (Some(_), Some(_)) => {
                return Err(
                    "has credentials in the URL and as username/password: give them once".into(),
                );
            }
            (Some((username, password)), None) | (None, Some((username, password))) => {
                Some(Credentials { username, password })
            }
            (None, None) => None,
        };
        // Infallible for an rtsp:// URL with a host.
        let cleared = parsed.set_password(None).and(parsed.set_username(""));
        if cleared.is_err() {
            return Err("cannot take the credentials out of the URL".into());
        }
        Ok(RtspEndpoint {
            url: parsed,
            credentials,
            transport,
        })
    }

    /// The URL for messages and logs: with the user name, never the password.
    pub fn shown(&self) -> String {
        let mut shown = self.url.clone();
        if let Some(c) = &self.credentials {
            let _ = shown.set_username(&c.username);
        }
        shown.to_string()
    }
}

/// Capture times from RTP timestamps, anchored to the box's wall clock (see the module doc).
#[derive(Debug, Default)]
pub struct RtpClock {
    /// The smallest `arrival − rtp_time` seen, in milliseconds.
    offset_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl RtpClock {
    /// The capture time of a frame with (unwrapped) RTP timestamp `ticks` at `clock_rate` Hz that
    /// arrived at `arrived`.
    pub fn stamp(&mut self, ticks: i64, clock_rate: u32, arrived: Timestamp) -> Timestamp {
        let rate = i64::from(clock_rate.max(1));
        let rtp_ms = ticks.saturating_mul(1000) / rate;
        let arrived_ms = arrived.millis();
        let observed = arrived_ms - rtp_ms;
        let offset = match self.offset_ms {
            Some(offset) if observed - offset > MAX_LAG_MS => {
                tracing::info!(
                    lag_ms = observed - offset,
                    "RTP clock re-anchored to the box's clock"
                );
                observed
            }
            Some(offset) => offset.min(observed),
            None => observed,
        };
        self.offset_ms = Some(offset);
        let mut at = rtp_ms + offset;
        if let Some(last) = self.last_ms {
            at = at.max(last + 1);
        }
        self.last_ms = Some(at);
        Timestamp::from_millis(at).unwrap_or(arrived)
    }
}

/// H.264 access units in, RGB frames stamped at capture out: the RTSP source's path after retina's
/// depacketiser, apart so that tests can drive it without a network.
pub struct H264Frames {
    camera: CameraId,
    decoder: openh264::decoder::Decoder,
    clock: RtpClock,
    waiting_for_key: bool,
}

impl H264Frames {
    /// A decoder for one stream.
    pub fn new(camera: CameraId) -> Result<H264Frames, String> {
        let decoder = openh264::decoder::Decoder::new()
            .map_err(|e| format!("cannot start the H.264 decoder: {e}"))?;
        Ok(H264Frames {
            camera,
            decoder,
            clock: RtpClock::default(),
            waiting_for_key: true,
        })
    }

    /// Decodes one access unit: Annex B NAL units (SPS/PPS before key frames, as retina's
    /// [`FrameFormat::SIMPLE`] gives them), with RTP timestamp `ticks` (unwrapped) at `clock_rate`
    /// Hz, that arrived at `arrived`. `key` marks a random-access point; `lost` says packets before it
    /// were lost. Until a key frame (at the start, after a loss or a decoding error) access units are
    /// skipped: predicted frames without their reference decode to garbage. `Ok(None)`: no picture
    /// (yet).
    pub fn decode(
        &mut self,
        access_unit: &[u8],
        key: bool,
        lost: bool,
        ticks: i64,
        clock_rate: u32,
        arrived: Timestamp,
    ) -> Result<Option<Frame>, String> {
        if lost && !key {
            self.waiting_for_key = true;
        }
        if self.waiting_for_key && !key {
            return Ok(None);
        }
        self.waiting_for_key = false;
        let picture = match self.decoder.decode(access_unit) {
            Ok(Some(picture)) => picture,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.waiting_for_key = true;
                return Err(format!("H.264 decoding failed: {e}"));
            }
        };
        let (width, height) = picture.dimensions();
        let mut pixels = vec![0; width * height * 3];
        picture.write_rgb8(&mut pixels);
        Ok(Some(Frame {
            camera_id: self.camera.clone(),
            captured_at: self.clock.stamp(ticks, clock_rate, arrived),
            position: 0,
            width,
            height,
            pixels,
        }))
    }
}

/// What `wardwatch-agent cameras --probe` reports about a stream.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The URL, without the password.
    pub url: String,
    /// The server's `a=tool`, when it says.
    pub tool: Option<String>,
    /// RFC 6381 codec string, e.g. `avc1.640028`.
    pub codec: String,
    /// Width × height of the first decoded frame.
    pub size: (usize, usize),
    /// Frame rate from the SPS, when it has one.
    pub fps: Option<f64>,
    /// From the first request to the first decoded frame.
    pub first_frame_after: Duration,
    /// The first frame's capture time.
    pub captured_at: Timestamp,
}

/// A playing session and its decoder.
struct Live {
    demuxed: Demuxed,
    frames: H264Frames,
    shown: String,
}

impl Live {
    /// DESCRIBE, SETUP of the first video stream, PLAY, within [`CONNECT_TIMEOUT`].
    async fn open(endpoint: &RtspEndpoint, camera: CameraId) -> Result<Live, String> {
        let shown = endpoint.shown();
        let demuxed = tokio::time::timeout(CONNECT_TIMEOUT, Live::connect(endpoint))
            .await
            .map_err(|_| {
                format!(
                    "{shown}: no answer within {} s (DESCRIBE/SETUP/PLAY)",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("{shown}: {e}"))?;
        Ok(Live {
            demuxed,
            frames: H264Frames::new(camera)?,
            shown,
        })
    }

    async fn connect(endpoint: &RtspEndpoint) -> Result<Demuxed, String> {
        let options = SessionOptions::default()
            .creds(endpoint.credentials.clone())
            .user_agent(format!("wardwatch-agent/{}", env!("CARGO_PKG_VERSION")));
        let mut session = Session::describe(endpoint.url.clone(), options)
            .await
            .map_err(|e| e.to_string())?;
        let (index, stream) = session
            .streams()
            .iter()
            .enumerate()
            .find(|(_, s)| s.media() == "video")
            .ok_or("the camera offers no video stream")?;
        if stream.encoding_name() != "h264" {
            return Err(format!(
                "the video is {}, not H.264: set this stream to H.264 in the camera's settings \
                 (often the sub-stream)",
                stream.encoding_name().to_uppercase()
            ));
        }
        let transport = match endpoint.transport {
            RtspTransport::Tcp => Transport::Tcp(Default::default()),
            RtspTransport::Udp => Transport::Udp(Default::default()),
        };
        session
            .setup(
                index,
                SetupOptions::default()
                    .transport(transport)
                    .frame_format(FrameFormat::SIMPLE),
            )
            .await
            .map_err(|e| e.to_string())?;
        session
            .play(PlayOptions::default())
            .await
            .map_err(|e| e.to_string())?
            .demuxed()
            .map_err(|e| e.to_string())
    }

    /// The next decoded frame; an error ends the session. Bad frames are skipped (and logged).
    async fn next(&mut self) -> Result<Frame, String> {
        loop {
            let item = tokio::time::timeout(STALL_TIMEOUT, self.demuxed.next())
                .await
                .map_err(|_| {
                    format!("{}: no frame for {} s", self.shown, STALL_TIMEOUT.as_secs())
                })?;
            let video = match item {
                None => return Err(format!("{}: the camera ended the stream", self.shown)),
                Some(Err(e)) => return Err(format!("{}: {e}", self.shown)),
                Some(Ok(CodecItem::VideoFrame(video))) => video,
                Some(Ok(_)) => continue,
            };
            let arrived = Timestamp::now();
            let rtp = video.timestamp();
            let decoded = self.frames.decode(
                video.data(),
                video.is_random_access_point(),
                video.loss() > 0,
                rtp.elapsed(),
                rtp.clock_rate().get(),
                arrived,
            );
            match decoded {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(why) => tracing::debug!(url = %self.shown, why, "frame skipped"),
            }
        }
    }
}

/// Opens a stream, decodes its first frame and says what it is (for `wardwatch-agent cameras
/// --probe`).
pub async fn probe(endpoint: &RtspEndpoint) -> Result<Probe, String> {
    let started = Instant::now();
    let camera: CameraId = "probe"
        .parse()
        .map_err(|e| format!("camera id for the probe: {e}"))?;
    let mut live = Live::open(endpoint, camera).await?;
    let frame = live.next().await?;
    let stream = live.demuxed.streams().iter().find(|s| s.media() == "video");
    let params = stream.and_then(|s| match s.parameters() {
        Some(retina::codec::ParametersRef::Video(v)) => Some(v.clone()),
        _ => None,
    });
    Ok(Probe {
        url: live.shown.clone(),
        tool: live.demuxed.tool().map(|t| String::from(&**t)),
        codec: params
            .as_ref()
            .map_or_else(|| "h264".into(), |p| p.rfc6381_codec().to_owned()),
        size: (frame.width, frame.height),
        fps: params
            .and_then(|p| p.frame_rate())
            .filter(|(num, _)| *num > 0)
            .map(|(num, den)| f64::from(den) / f64::from(num)),
        first_frame_after: started.elapsed(),
        captured_at: frame.captured_at,
    })
}

/// A live RTSP camera (see the module doc).
pub struct RtspSource {
    endpoint: RtspEndpoint,
    feed: LiveFeed<Frame>,
}

impl RtspSource {
    /// Starts the session in the background; failures show up in [`FrameSource::next_frame`].
    pub fn open(camera_id: CameraId, endpoint: RtspEndpoint) -> Result<RtspSource, SourceError> {
        let mut source = RtspSource {
            feed: LiveFeed::new(camera_id, endpoint.shown()),
            endpoint,
        };
        source.reopen()?;
        Ok(source)
    }
}

/// The session thread's body: connect, then keep the newest frame in `slot` until stopped or failed.
fn run_session(endpoint: &RtspEndpoint, camera: CameraId, slot: &Latest<Frame>, stop: &AtomicBool) {
    let shown = endpoint.shown();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return slot.fail(format!("{shown}: cannot start the RTSP runtime: {e}")),
    };
    let stopped = async {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome: Result<(), String> = runtime.block_on(async {
        tokio::pin!(stopped);
        let mut live = tokio::select! {
            () = &mut stopped => return Ok(()),
            live = Live::open(endpoint, camera.clone()) => live?,
        };
        tracing::info!(camera = %camera, url = %shown, "RTSP stream playing");
        loop {
            tokio::select! {
                () = &mut stopped => return Ok(()),
                frame = live.next() => slot.put(frame?),
            }
        }
    });
    let dropped = slot.dropped();
    tracing::debug!(camera = %camera, url = %shown, dropped, "RTSP session ended");
    if let Err(why) = outcome {
        slot.fail(why);
    }
}

impl FrameSource for RtspSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        // The session thread gives up on its own after CONNECT_TIMEOUT or STALL_TIMEOUT; this is a
        // last resort should it hang.
        let deadline = Instant::now() + CONNECT_TIMEOUT + STALL_TIMEOUT + Duration::from_secs(5);
        self.feed.next(deadline, "the RTSP session hung").map(Some)
    }

    fn is_recording(&self) -> bool {
        false
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        let endpoint = self.endpoint.clone();
        let camera = self.feed.camera().clone();
        self.feed.restart(
            "rtsp",
            Box::new(move |slot, stop| run_session(&endpoint, camera, slot, stop)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openh264::encoder::{Encoder, EncoderConfig};
    use openh264::formats::{RgbSliceU8, YUVBuffer};

    const W: usize = 96;
    const H: usize = 64;

    fn camera() -> CameraId {
        "cam-rtsp".parse().expect("id")
    }

    /// A flat frame of `rgb` with a bright square that moves with `n` (so frames differ).
    fn synthetic(rgb: [u8; 3], n: usize) -> Vec<u8> {
        let mut pixels = Vec::with_capacity(W * H * 3);
        for y in 0..H {
            for x in 0..W {
                let in_square = (x + W - (n * 4) % W) % W < 8 && (8..16).contains(&y);
                pixels.extend_from_slice(if in_square { &[250, 250, 250] } else { &rgb });
            }
        }
        pixels
    }

    fn mean(frame: &Frame) -> [f64; 3] {
        let mut sum = [0.0; 3];
        for px in frame.pixels.chunks_exact(3) {
            for c in 0..3 {
                sum[c] += f64::from(px[c]);
            }
        }
        sum.map(|s| s / (frame.width * frame.height) as f64)
    }

    /// Encodes frames of the given colours into Annex B access units, as an IP camera sends them.
    pub(crate) fn encode(colours: &[[u8; 3]]) -> Vec<Vec<u8>> {
        let config = EncoderConfig::new()
            .max_frame_rate(openh264::encoder::FrameRate::from_hz(25.0))
            .bitrate(openh264::encoder::BitRate::from_bps(2_000_000))
            .skip_frames(false)
            .rate_control_mode(openh264::encoder::RateControlMode::Off);
        let mut encoder =
            Encoder::with_api_config(openh264::OpenH264API::from_source(), config).expect("enc");
        colours
            .iter()
            .enumerate()
            .map(|(n, c)| {
                let rgb = synthetic(*c, n);
                let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&rgb, (W, H)));
                encoder.encode(&yuv).expect("encode").to_vec()
            })
            .collect()
    }

    #[test]
    fn encoded_h264_decodes_to_frames_of_the_right_size_colour_and_capture_time() {
        let colours = [[200, 40, 40], [200, 40, 40], [40, 180, 60], [40, 60, 200]];
        let units = encode(&colours);
        let mut frames = H264Frames::new(camera()).expect("decoder");
        let anchor: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let start_ticks = 1_234_567_i64;
        let mut stamps = Vec::new();
        for (n, unit) in units.iter().enumerate() {
            // 25 fps at 90 kHz, arriving 80, 120 (a slow packet), 80 and 60 ms after capture.
            let ticks = start_ticks + n as i64 * 3600;
            let lag = [80, 120, 80, 60][n];
            let arrived = anchor.plus_millis(n as i64 * 40 + lag);
            let frame = frames
                .decode(unit, n == 0, false, ticks, 90_000, arrived)
                .expect("decode")
                .expect("a picture per access unit");
            assert_eq!((frame.width, frame.height), (W, H));
            assert_eq!(frame.pixels.len(), W * H * 3);
            assert_eq!(frame.camera_id, camera());
            let m = mean(&frame);
            let mut want = [0.0; 3];
            let expected = synthetic(colours[n], n);
            for px in expected.chunks_exact(3) {
                for c in 0..3 {
                    want[c] += f64::from(px[c]) / (W * H) as f64;
                }
            }
            for c in 0..3 {
                assert!(
                    (m[c] - want[c]).abs() < 12.0,
                    "frame {n} channel {c}: mean {:.1}, encoded {:.1}",
                    m[c],
                    want[c]
                );
            }
            stamps.push(frame.captured_at.millis() - anchor.millis());
        }
        // Anchored at the first arrival, then spaced by the RTP timestamps (the slow second frame is
        // still stamped 40 ms after the first, not when it arrived), until a frame that came sooner
        // than the first pulls the clock 20 ms earlier.
        assert_eq!(stamps, vec![80, 120, 160, 180]);
    }

    #[test]
    fn predicted_frames_wait_for_a_key_frame_after_a_loss() {
        let units = encode(&[[90, 90, 90]; 3]);
        let mut frames = H264Frames::new(camera()).expect("decoder");
        let at: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        // Joining mid-stream: a predicted frame first is skipped, not decoded into garbage.
        assert!(
            frames
                .decode(&units[1], false, false, 0, 90_000, at)
                .expect("skip")
                .is_none()
        );
        assert!(
            frames
                .decode(&units[0], true, false, 3600, 90_000, at)
                .expect("key")
                .is_some()
        );
        assert!(
            frames
                .decode(&units[2], false, true, 7200, 90_000, at)
                .expect("skip after loss")
                .is_none()
        );
    }

    #[test]
    fn the_clock_follows_rtp_time_never_goes_back_and_re_anchors_after_a_long_lag() {
        let mut clock = RtpClock::default();
        let t0: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let at = |clock: &mut RtpClock, ticks: i64, arrived: i64| {
            clock.stamp(ticks, 90_000, t0.plus_millis(arrived)).millis() - t0.millis()
        };
        assert_eq!(at(&mut clock, 0, 100), 100);
        // Decoded late (a busy box): still stamped by RTP time.
        assert_eq!(at(&mut clock, 9000, 900), 200);
        // A frame that arrived sooner than any before pulls the offset earlier, but never back in time.
        assert_eq!(at(&mut clock, 18000, 250), 250);
        assert_eq!(at(&mut clock, 18090, 251), 251);
        // The RTP timestamp jumped back by an hour: re-anchored on arrival.
        assert_eq!(at(&mut clock, 18090 - 90_000 * 3600, 400), 400);
    }

    #[test]
    fn credentials_come_out_of_the_url_and_are_never_shown() {
        let e = RtspEndpoint::new(
            "rtsp://admin:s%40cret@192.0.2.10:554/Streaming/Channels/102",
            None,
            None,
            RtspTransport::Tcp,
        )
        .expect("ok");
        assert_eq!(
            e.credentials.as_ref().map(|c| c.password.as_str()),
            Some("s@cret")
        );
        assert_eq!(
            e.url.as_str(),
            "rtsp://192.0.2.10:554/Streaming/Channels/102"
        );
        assert_eq!(
            e.shown(),
            "rtsp://admin@192.0.2.10:554/Streaming/Channels/102"
        );
        assert!(!format!("{e:?}").contains("cret"));
        let apart = RtspEndpoint::new(
            "rtsp://192.0.2.10/cam/realmonitor?channel=1&subtype=1",
            Some("viewer"),
            Some("pw"),
            RtspTransport::Udp,
        )
        .expect("ok");
        assert_eq!(
            apart.shown(),
            "rtsp://viewer@192.0.2.10/cam/realmonitor?channel=1&subtype=1"
        );
        for (url, user, pass, why) in [
            ("http://192.0.2.10/", None, None, "rtsp://"),
            ("rtsp://a:hunter2@192.0.2.10/", Some("b"), None, "once"),
            ("rtsp://192.0.2.10/", None, Some("hunter2"), "no username"),
            ("not a url hunter2", None, None, "not a URL"),
        ] {
            let err = RtspEndpoint::new(url, user, pass, RtspTransport::Tcp).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    /// A minimal RTSP server on loopback for one client: DESCRIBE (H.264, no parameter sets in the
    /// SDP), SETUP (interleaved TCP), PLAY, then `units` as single-NAL-unit RTP packets 40 ms apart in
    /// RTP time, sent at once; it answers later requests (keep-alives) until the client hangs up.
    fn serve_once(units: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut out = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut requests = Vec::new();
            loop {
                // Interleaved data from the client (RTCP) is skipped.
                match reader.fill_buf() {
                    Ok([b'$', ..]) => {
                        let mut head = [0u8; 4];
                        reader.read_exact(&mut head).expect("head");
                        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
                        let mut skip = vec![0; len];
                        reader.read_exact(&mut skip).expect("body");
                        continue;
                    }
                    Ok([]) | Err(_) => return requests,
                    Ok(_) => {}
                }
                let (mut first, mut cseq, mut line) = (String::new(), String::new(), String::new());
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return requests;
                    }
                    let text = line.trim_end();
                    if text.is_empty() {
                        break;
                    }
                    if first.is_empty() {
                        first = text.to_owned();
                    } else if let Some(v) = text.strip_prefix("CSeq:") {
                        cseq = v.trim().to_owned();
                    }
                }
                let method = first.split(' ').next().unwrap_or("").to_owned();
                requests.push(first.clone());
                let base = format!("rtsp://127.0.0.1:{port}/stream/");
                let (headers, body) = match method.as_str() {
                    "DESCRIBE" => {
                        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 0.0.0.0\r\n\
                                   t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                                   a=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
                        (
                            format!("Content-Base: {base}\r\nContent-Type: application/sdp\r\n"),
                            sdp.to_owned(),
                        )
                    }
                    "SETUP" => (
                        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\
                         Session: 12345678;timeout=60\r\n"
                            .to_owned(),
                        String::new(),
                    ),
                    _ => ("Session: 12345678\r\n".to_owned(), String::new()),
                };
                let response = format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                out.write_all(response.as_bytes()).expect("respond");
                if method == "PLAY" {
                    let mut seq = 0u16;
                    for (n, unit) in units.iter().enumerate() {
                        let ts = 90_000u32 + n as u32 * 3600;
                        let nals: Vec<&[u8]> = split_annex_b(unit);
                        for (i, nal) in nals.iter().enumerate() {
                            let mark = if i + 1 == nals.len() { 0x80 } else { 0 };
                            let mut rtp = vec![0x80, mark | 96];
                            rtp.extend_from_slice(&seq.to_be_bytes());
                            rtp.extend_from_slice(&ts.to_be_bytes());
                            rtp.extend_from_slice(&0x5eed_u32.to_be_bytes());
                            rtp.extend_from_slice(nal);
                            let mut packet = vec![b'$', 0];
                            packet.extend_from_slice(&(rtp.len() as u16).to_be_bytes());
                            packet.extend_from_slice(&rtp);
                            out.write_all(&packet).expect("rtp");
                            seq = seq.wrapping_add(1);
                        }
                    }
                }
            }
        });
        (port, thread)
    }

    /// The NAL units of an Annex B stream, without their start codes.
    fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i + 3 <= stream.len() {
            if stream[i..i + 3] == [0, 0, 1] {
                starts.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        starts
            .iter()
            .enumerate()
            .map(|(k, &start)| {
                let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
                while end > start && stream[end - 1] == 0 {
                    end -= 1;
                }
                &stream[start..end]
            })
            .collect()
    }

    #[test]
    fn a_stream_from_a_loopback_rtsp_server_arrives_decoded_newest_frame_first() {
        let colours = [[200, 40, 40], [40, 180, 60], [40, 60, 200], [220, 220, 40]];
        let (port, server) = serve_once(encode(&colours));
        let endpoint = RtspEndpoint::new(
            &format!("rtsp://admin:hunter2@127.0.0.1:{port}/stream"),
            None,
            None,
            RtspTransport::Tcp,
        )
        .expect("endpoint");
        let mut source = RtspSource::open(camera(), endpoint).expect("open");
        // The worker is slow: by the time it looks, every frame has been decoded and only the newest
        // is kept.
        std::thread::sleep(Duration::from_millis(1500));
        let frame = source.next_frame().expect("a frame").expect("live");
        assert_eq!((frame.width, frame.height), (W, H));
        let m = mean(&frame);
        assert!(
            m[0] > 150.0 && m[1] > 150.0 && m[2] < 90.0,
            "expected the last (yellow) frame, mean {m:?}"
        );
        drop(source);
        let requests = server.join().expect("server");
        assert!(
            requests[0].starts_with("DESCRIBE rtsp://127.0.0.1:"),
            "{requests:?}"
        );
        assert!(
            requests.iter().all(|r| !r.contains("hunter2")),
            "{requests:?}"
        );
        assert!(
            requests.iter().any(|r| r.starts_with("PLAY")),
            "{requests:?}"
        );
    }

    #[test]
    fn a_probe_reports_codec_size_and_first_frame() {
        let (port, _server) = serve_once(encode(&[[90, 90, 90]; 3]));
        let endpoint = RtspEndpoint::new(
            &format!("rtsp://127.0.0.1:{port}/stream"),
            None,
            None,
            RtspTransport::Tcp,
        )
        .expect("endpoint");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let probe = runtime.block_on(probe(&endpoint)).expect("probe");
        assert_eq!(probe.size, (W, H));
        assert!(probe.codec.starts_with("avc1."), "{}", probe.codec);
        assert!(probe.first_frame_after < CONNECT_TIMEOUT);
    }

    #[test]
    fn an_unreachable_camera_is_unavailable_naming_the_host_but_not_the_password() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let endpoint = RtspEndpoint::new(
            "rtsp://admin:hunter2@127.0.0.1:9/Streaming/Channels/101",
            None,
            None,
            RtspTransport::Tcp,
        )
        .expect("endpoint");
        let mut source = RtspSource::open(camera(), endpoint).expect("opening never blocks");
        assert!(!source.is_recording());
        let started = Instant::now();
        let err = source.next_frame().expect_err("unreachable");
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        let msg = err.to_string();
        assert!(matches!(err, SourceError::Unavailable { .. }), "{msg}");
        assert!(msg.contains("127.0.0.1:9"), "{msg}");
        assert!(msg.contains("cam-rtsp"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        // Still unavailable until reopened; reopening starts a new attempt that fails the same way.
        assert!(source.next_frame().is_err());
        source.reopen().expect("reopen");
        let again = source.next_frame().expect_err("still unreachable");
        assert!(!again.to_string().contains("hunter2"));
    }
}
