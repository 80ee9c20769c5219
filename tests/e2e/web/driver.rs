//! A minimal W3C WebDriver client for Debian's chromedriver, over the hyper client the end-to-end tests
//! already use: the dozen commands the browser tests need (open, find, type, click, read, cookies,
//! script, screenshot). A WebDriver crate (fantoccini, thirtyfour) would bring a second ICU stack and a
//! dozen more crates into the test build for the same few calls.

use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, killed when dropped.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
}

impl Chromedriver {
    /// Starts `chromedriver` on a free port and waits until it answers.
    pub fn start(log: &Path) -> Chromedriver {
        let addr = wardwatch_testkit::e2e::free_addr();
        let child = Command::new("chromedriver")
            .arg(format!("--port={}", addr.port()))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        wardwatch_testkit::e2e::wait_listening(addr, log);
        Chromedriver { child, addr }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    driver: SocketAddr,
    session: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

async fn call(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    try_call(driver, method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One WebDriver command; `Err` with the status and body when it fails.
async fn try_call(
    driver: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let stream = tokio::net::TcpStream::connect(driver)
        .await
        .expect("connect to chromedriver");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("WebDriver handshake");
    tokio::spawn(conn);
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", driver.to_string())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(bytes)))
        .expect("request");
    let response = sender
        .send_request(request)
        .await
        .expect("WebDriver response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("WebDriver body")
        .to_bytes();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "WebDriver {method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(value["value"].clone())
}

impl Browser {
    /// A headless Chromium at 1366×768 (office screens), Chinese first, with a fresh profile in `profile`.
    pub async fn open(driver: &Chromedriver, profile: &Path) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1366,768",
                    "--lang=zh-CN", format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let value = call(driver.addr, "POST", "/session", Some(caps)).await;
        let session = value["sessionId"]
            .as_str()
            .expect("a WebDriver session id")
            .to_owned();
        Browser {
            driver: driver.addr,
            session,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(
            self.driver,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
        .collect()
    }

    /// The element matching a CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(found) = self.find_all(css).await.into_iter().next() {
                return found;
            }
            assert!(
                Instant::now() < until,
                "no element {css:?} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the element (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let Element(id) = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Chooses the file at `path` in the file input `css` (WebDriver: its path as the typed text).
    pub async fn choose_file(&self, css: &str, path: &Path) {
        let Element(id) = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": path.display().to_string() })),
        )
        .await;
    }

    /// The text of a same-origin `GET` made by the page (with its cookies): a download's content.
    pub async fn fetch_text(&self, url: &str) -> String {
        let script = format!(
            "return fetch({}, {{credentials: 'same-origin'}}).then(async r => r.status + '\\n' + await r.text());",
            serde_json::to_string(url).expect("url as JSON")
        );
        self.script(&script)
            .await
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// Clicks the element.
    pub async fn click(&self, css: &str) {
        let Element(id) = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// Clicks something that loads a new page (a link, a form's button) and waits until the new
    /// document has loaded: the old one is marked first, so a page still showing is never mistaken for
    /// the next.
    pub async fn submit(&self, css: &str) {
        self.script("window.wwOldPage = 1; return 1;").await;
        self.click(css).await;
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let path = format!("/session/{}/execute/sync", self.session);
            let probe = json!({"script": "return document.readyState === 'complete' && window.wwOldPage === undefined;", "args": []});
            if try_call(self.driver, "POST", &path, Some(probe)).await == Ok(Value::Bool(true)) {
                return;
            }
            assert!(Instant::now() < until, "no new page after clicking {css:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Picks `value` in a `<select>`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// The visible text of the element. A click that submits a form may still be loading the next
    /// page: an element found on the old one goes stale, and is looked up again (for up to 5 s).
    pub async fn text(&self, css: &str) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let Element(id) = self.find(css).await;
            let path = format!("/session/{}/element/{id}/text", self.session);
            match try_call(self.driver, "GET", &path, None).await {
                Ok(text) => return text.as_str().unwrap_or_default().to_owned(),
                Err(e) if e.contains("stale element") && Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// An attribute of an element.
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.cmd(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Runs a script in the page and returns its result.
    pub async fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// The value of cookie `name` (HttpOnly ones too: WebDriver sees every cookie).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.cmd("GET", "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str().map(str::to_owned))
    }

    /// Sets a cookie on the current site.
    pub async fn set_cookie(&self, name: &str, value: &str) {
        self.cmd(
            "POST",
            "/cookie",
            Some(json!({"cookie": {"name": name, "value": value, "path": "/", "httpOnly": true, "sameSite": "Strict"}})),
        )
        .await;
    }

    /// Saves a PNG of the viewport (`full`: the whole page's height) to `path` and returns its size in bytes.
    pub async fn screenshot(&self, path: &Path, full: bool) -> usize {
        if full {
            let height = self
                .script("return Math.min(document.documentElement.scrollHeight, 4000);")
                .await
                .as_i64()
                .unwrap_or(768);
            self.cmd(
                "POST",
                "/window/rect",
                Some(json!({"width": 1366, "height": height.max(768) + 90})),
            )
            .await;
        }
        let png = self.cmd("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("base64 PNG");
        if full {
            self.cmd(
                "POST",
                "/window/rect",
                Some(json!({"width": 1366, "height": 768 + 90})),
            )
            .await;
        }
        std::fs::write(path, &bytes).expect("write screenshot");
        bytes.len()
    }

    /// Ends the session (closes the browser).
    pub async fn quit(self) {
        self.cmd("DELETE", "", None).await;
    }
}
