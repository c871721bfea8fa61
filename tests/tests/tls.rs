//! The phone over HTTPS, as a township's server is reached through its reverse proxy: the
//! `zhibu` program logs in and syncs through a TLS front on 127.0.0.1 whose certificate comes
//! from the township's own certificate authority, named in `ZHIBU_CA_FILE`. Without it the
//! certificate is refused, said in Chinese, and nothing is sent.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use zhibu_tests::{Backend, PASSWORD, TestApp};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");

/// A TLS front on 127.0.0.1 for the plain server on `backend`: its port.
async fn tls_front(backend: u16) -> u16 {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(format!("{FIXTURES}/server.pem"))
        .expect("certificate")
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/server.key")).expect("key");
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", backend)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

fn zhibu(dir: &Path, ca: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zhibu-under-test"));
    command.arg("--dir").arg(dir).args(args).env_remove("ZHIBU_CA_FILE");
    if let Some(ca) = ca {
        command.env("ZHIBU_CA_FILE", ca);
    }
    let out = command.output().expect("zhibu runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_syncs_over_https_trusting_the_townships_own_authority() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let backend: u16 = app.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let front = tls_front(backend).await;
    let server = format!("https://127.0.0.1:{front}");
    let dir = tempfile::tempdir().expect("dir");
    let login = ["login", "--server", &server, "--user", "cadre1", "--password", PASSWORD];

    let (code, out, err) = zhibu(dir.path(), None, &login);
    assert_eq!(code, 5, "a certificate the phone cannot trust: {out}{err}");
    assert!(err.contains("证书无法验证") && err.contains("ZHIBU_CA_FILE"), "{err}");

    let ca = format!("{FIXTURES}/ca.pem");
    let (code, out, err) = zhibu(dir.path(), Some(&ca), &login);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        zhibu(dir.path(), Some(&ca), &["points", "award", "v1-m01", "volunteer", "2", "--note", "经由 HTTPS"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(dir.path(), Some(&ca), &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let notes = app.point_notes("v1").await;
    assert!(notes.iter().any(|n| n == "经由 HTTPS"), "{notes:?}");

    // A plain HTTP server named with https:// (or without a scheme) is said to be one.
    let plain = format!("https://127.0.0.1:{backend}");
    let (code, _, err) =
        zhibu(dir.path(), Some(&ca), &["login", "--server", &plain, "--user", "cadre1", "--password", PASSWORD]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("没有启用 HTTPS"), "{err}");
}
