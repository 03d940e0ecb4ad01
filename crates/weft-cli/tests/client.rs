//! The `weft` client, run as a user would, against an in-process weft server on 127.0.0.1:0.

mod support;

use std::process::Stdio;

use support::*;

// --- client: stdin, stdout, -d, -n ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sends_stdin_lines_and_prints_each_reply_on_a_line() {
    let (url, _server) = library_server().await;
    let output = run_client(&["-q", "2", &format!("{url}/echo")], b"hello\nworld\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "hello\nworld\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_no_line_sends_stdin_in_reads_that_together_are_the_input() {
    let (url, _server) = library_server().await;
    // Larger than one 64 KiB read, so it arrives as several messages.
    let input = "abcdefgh".repeat(40_000);
    let output = run_client(
        &["--no-line", "-q", "2", &format!("{url}/echo")],
        input.as_bytes(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let replies = stdout(&output);
    assert!(replies.lines().count() >= 2, "one message per read");
    assert_eq!(replies.replace('\n', ""), input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_count_1_exits_after_the_first_message() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &["-n", "1", "-d", "one", "-d", "two", &format!("{url}/echo")],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "one\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_count_0_exits_right_after_the_handshake() {
    let (url, _server) = library_server().await;
    // stdin stays open: -n 0 must not wait for it.
    let mut child = weft()
        .args(["-n", "0", &format!("{url}/echo")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _stdin = child.stdin.take();
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("exits without stdin ending")
        .expect("output");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sends_data_arguments_and_file_contents_before_stdin() {
    let (url, _server) = library_server().await;
    let file = temp_path("data.txt");
    std::fs::write(&file, "from a file").expect("write data file");
    let at_file = format!("@{}", file.display());
    let output = run_client(
        &[
            "-q",
            "0.5",
            "-d",
            "first",
            "-d",
            &at_file,
            &format!("{url}/echo"),
        ],
        b"from stdin\n",
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "first\nfrom a file\nfrom stdin\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_writes_binary_messages_as_hex_when_asked() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &[
            "--binary",
            "--hex",
            "-n",
            "1",
            "-d",
            "AB",
            &format!("{url}/echo"),
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "4142\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_jsonl_reports_open_message_and_close_events() {
    let (url, _server) = library_server().await;
    let target = format!("{url}/echo");
    let output = run_client(
        &[
            "--jsonl", "-n", "2", "-d", "hi", "--binary", "-d", "hi", &target,
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(events[0]["event"], "open");
    assert_eq!(events[0]["url"], target.as_str());
    assert!(events[0]["subprotocol"].is_null());
    assert_eq!(events[1]["event"], "message");
    assert_eq!(events[1]["type"], "binary");
    assert_eq!(events[1]["data"], "aGk=");
    assert_eq!(events[2]["event"], "message");
    assert_eq!(events[2]["data"], "aGk=");
    let close = events.last().expect("a close event");
    assert_eq!(close["event"], "close");
    assert_eq!(close["code"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_verbose_prints_request_and_response_heads_to_stderr() {
    let (url, _server) = library_server().await;
    let output = run_client(&["-v", "-n", "0", &format!("{url}/echo")], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("> GET /echo HTTP/1.1"), "{err}");
    assert!(err.contains("> Sec-WebSocket-Key: "), "{err}");
    assert!(err.contains("< HTTP/1.1 101 Switching Protocols"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_raw_mode_passes_bytes_untouched() {
    let (url, _server) = library_server().await;
    // A masked text frame "hi" with the mask 1 2 3 4, as a client must send it.
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    let file = temp_path("frame.bin");
    std::fs::write(&file, frame).expect("write frame");
    let at_file = format!("@{}", file.display());
    let output = run_client(
        &["--raw", "-n", "1", "-d", &at_file, &format!("{url}/echo")],
        b"",
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The echo comes back as an unmasked server frame.
    assert_eq!(output.stdout, [0x81, 0x02, b'h', b'i']);
}

// --- client: exit statuses -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_2_on_a_bad_url() {
    for url in ["ftp://example.com/", "not a url"] {
        let output = run_client(&[url], b"").await;
        assert_eq!(output.status.code(), Some(2), "{url}: {}", stderr(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_2_on_a_stdin_line_that_is_not_utf8() {
    let (url, _server) = library_server().await;
    let output = run_client(&[&format!("{url}/echo")], b"\xff\n").await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--binary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_3_when_the_connection_is_refused() {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let output = run_client(&[&format!("ws://127.0.0.1:{port}/")], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_4_and_prints_the_status_when_the_handshake_is_refused() {
    let (url, _server) = library_server().await;
    let output = run_client(&[&format!("{url}/no-such-route")], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("HTTP 404 Not Found"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_5_when_a_message_exceeds_max_message_size() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &[
            "--max-message-size",
            "4",
            "-n",
            "1",
            "-d",
            "far too long",
            &format!("{url}/echo"),
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_7_when_the_server_closes_with_an_error_code() {
    let (url, _server) = library_server().await;
    let output = run_client(&["--no-stdin", &format!("{url}/close4000")], b"").await;
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("4000 go away"),
        "{}",
        stderr(&output)
    );
}
