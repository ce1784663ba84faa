//! Helpers shared by the integration tests in `tests/tests/`: where the workspace and its tools are, and
//! starting peers that fail loudly (a test that needs a peer never skips).

use std::net::TcpListener;
use std::path::PathBuf;

/// The workspace root (the checkout).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// A tool that `scripts/venv` installs into `./.venv/bin`; panics with the fix when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run ./scripts/venv (or ./scripts/test, which runs it) to install the test tools",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
