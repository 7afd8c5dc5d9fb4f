//! What a member finds out alone, at once, before it waits for its peers: a missing or
//! malformed input file, a missing key file; and the command line's own errors (exit
//! codes, `keygen --threshold 1`, printed paths, the key-permission warning).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{CONNECT_SECS, Consortium, EXE, Outcome, data, replace_once, spawn, spawn_run, wait_all, write_job};

const COLUMNS: [&str; 2] = ["mean_radius", "target"];

/// Member 1's node config with a 300 s connect window, as in the README: a member that
/// waited for its peers would be killed by `wait_all` long before that.
fn patient_node(c: &Consortium) -> PathBuf {
    c.node_variant(
        1,
        "party-1-patient.toml",
        &[(&format!("connect_timeout_secs = {CONNECT_SECS}\n"), "connect_timeout_secs = 300\n")],
    )
}

/// Runs member 1 alone (no peer is ever started) with `input`, and returns how it ended.
fn alone(c: &Consortium, node: &Path, input: &Path) -> Outcome {
    let job = c.tmp.path().join("job.toml");
    write_job(&job, "startup", &COLUMNS, None, &[], &[(1, input.to_path_buf())]);
    let mut p = [spawn_run(node, &job, &[])];
    wait_all(&mut p, Duration::from_secs(20)).remove(0)
}

fn assert_stops_at_once(o: &Outcome, error: &str) {
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_eq!(o.error_line(), format!("error: {error}"), "{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(5), "took {:?}: it waited for its peers\n{}", o.elapsed, o.stderr);
    assert!(!o.stderr.contains("did not connect"), "{}", o.stderr);
}

#[test]
fn a_missing_input_file_stops_the_member_at_once_without_peers() {
    let c = Consortium::new(3);
    let missing = c.tmp.path().join("member-1-typo.csv");
    let o = alone(&c, &patient_node(&c), &missing);
    assert_stops_at_once(&o, &format!("{}: cannot open: No such file or directory (os error 2)", missing.display()));
}

#[test]
fn a_header_without_a_job_column_or_with_a_repeated_one_stops_the_member_at_once() {
    let c = Consortium::new(3);
    let node = patient_node(&c);
    let text = std::fs::read_to_string(data("member-1.csv")).unwrap();
    let header = text.lines().next().unwrap().to_string();
    let headers: Vec<&str> = header.split(',').collect();

    let renamed = c.tmp.path().join("renamed.csv");
    std::fs::write(&renamed, replace_once(&text, "mean_radius,", "radius,")).unwrap();
    let o = alone(&c, &node, &renamed);
    let has = headers.join(", ").replacen("mean_radius", "radius", 1);
    assert_stops_at_once(
        &o,
        &format!("{}, line 1, column 'mean_radius': no such column in the header (it has: {has})", renamed.display()),
    );

    // The last column renamed to the first one's name: the reader would use the first.
    let (first, last) = (headers[0], headers[headers.len() - 1]);
    let twice = c.tmp.path().join("twice.csv");
    let dup_header = format!("{}{first}", header.strip_suffix(last).unwrap());
    std::fs::write(&twice, replace_once(&text, &header, &dup_header)).unwrap();
    let o = alone(&c, &node, &twice);
    assert_stops_at_once(
        &o,
        &format!("{}: column '{first}' appears twice in the header (columns 1 and {})", twice.display(), headers.len()),
    );
}

#[test]
fn a_missing_key_file_stops_the_member_at_once() {
    let c = Consortium::new(3);
    let node = c.node_variant(
        1,
        "party-1-nokey.toml",
        &[
            (&format!("connect_timeout_secs = {CONNECT_SECS}\n"), "connect_timeout_secs = 300\n"),
            ("key = \"party-1.key\"", "key = \"party-1-lost.key\""),
        ],
    );
    let o = alone(&c, &node, &data("member-1.csv"));
    let key = c.dir.join("party-1-lost.key");
    assert_stops_at_once(&o, &format!("{}: cannot read: No such file or directory (os error 2)", key.display()));
}

#[test]
#[cfg(unix)]
fn a_key_readable_by_others_is_refused_at_once_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let c = Consortium::new(2);
    let key = c.dir.join("party-1.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&key).unwrap();
    let o = alone(&c, &patient_node(&c), &data("member-1.csv"));
    assert_stops_at_once(
        &o,
        &format!(
            "{}: a private key readable by other users (mode 644); run: chmod 600 {}",
            key.display(),
            key.display()
        ),
    );
    assert_eq!(std::fs::read(&key).unwrap(), before, "the key was modified");
    // The CA's key and a member's key for renewal likewise.
    let ca_key = c.dir.join("ca.key");
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let req = consort(&["certs", "request", "--party", "5", "--out", "m"], c.tmp.path());
    assert_eq!(req.code, Some(0), "{}", req.stderr);
    let ca_cert = c.dir.join("ca.crt").display().to_string();
    let ca_key_arg = ca_key.display().to_string();
    let sign = consort(
        &[
            "certs",
            "sign",
            "--ca-cert",
            &ca_cert,
            "--ca-key",
            &ca_key_arg,
            "--csr",
            "m/party-5.csr",
            "--party",
            "5",
            "--out",
            "m/party-5.crt",
        ],
        c.tmp.path(),
    );
    assert_eq!(sign.code, Some(1));
    assert_eq!(
        sign.error_line(),
        format!(
            "error: {}: a private key readable by other users (mode 640); run: chmod 600 {}",
            ca_key.display(),
            ca_key.display()
        )
    );
    assert!(!c.tmp.path().join("m/party-5.crt").exists());
}

fn consort(args: &[&str], cwd: &Path) -> Outcome {
    let mut p = [spawn(args, cwd)];
    wait_all(&mut p, Duration::from_secs(20)).remove(0)
}

#[test]
fn usage_errors_exit_2_and_every_other_error_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let usage = consort(&["run", "--node", "node.toml"], tmp.path());
    assert_eq!(usage.code, Some(2), "{}", usage.stderr);
    assert!(usage.stderr.contains("the following required arguments were not provided"), "{}", usage.stderr);
    assert!(usage.stderr.contains("--job <JOB.toml>"), "{}", usage.stderr);
    let job = common::repo().join("examples/jobs/stats.toml");
    let missing = consort(&["run", "--node", "no-such-node.toml", "--job", &job.display().to_string()], tmp.path());
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert_eq!(
        missing.error_line(),
        "error: no-such-node.toml: cannot read: No such file or directory (os error 2)",
        "{}",
        missing.stderr
    );
}

#[test]
fn keygen_refuses_threshold_1_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let keygen = |dir: &str, extra: &[&str]| {
        let mut cmd = Command::new(EXE);
        cmd.current_dir(tmp.path()).args(["keygen", "--parties", "3", "--threshold", "1", "--out", dir]);
        cmd.args(["--insecure-test-primes"]).args(extra).output().expect("run consort keygen")
    };
    let refused = keygen("keys", &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "error: keys: --threshold 1 lets any one member decrypt alone, including another member's contribution \
         that it obtains from the aggregator; use --threshold 2 or more, or pass --allow-threshold-1 if every \
         member may see every contribution"
    );
    assert!(!tmp.path().join("keys").exists(), "a refused keygen created its directory");
    let allowed = keygen("keys", &["--allow-threshold-1"]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    let stdout = String::from_utf8_lossy(&allowed.stdout);
    assert!(stdout.contains("for 3 members (any 1 decrypt)"), "{stdout}");
}

#[test]
fn certs_request_prints_paths_without_a_double_slash() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(EXE)
        .current_dir(tmp.path())
        .args(["certs", "request", "--party", "1", "--out", "node/"])
        .output()
        .expect("run consort certs request");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap(),
        "wrote node/party-1.key (keep it here) and node/party-1.csr (send it to the CA)"
    );
}

/// The `CSR fingerprint (SHA-256): ...` value of a `certs` command's output.
fn csr_fingerprint(o: &Outcome) -> String {
    let line = o.stdout.lines().find_map(|l| l.strip_prefix("CSR fingerprint (SHA-256): "));
    let f = line.unwrap_or_else(|| panic!("no fingerprint in\n{}", o.stdout)).to_string();
    assert_eq!(f.len(), 16 * 4 + 15, "{f}");
    f
}

#[test]
fn certs_ca_request_sign_and_renew_agree_on_fingerprints_and_state_the_lifetime() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = consort(&["certs", "ca", "--out", "ca"], tmp.path());
    assert_eq!(ca.code, Some(0), "{}", ca.stderr);
    assert!(
        ca.stdout.starts_with(
            "CA written: ca/ca.crt (give it to every member), ca/ca.key (0600: keep it offline); valid until 20"
        ),
        "{}",
        ca.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("ca/ca.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let sign = |csr: &str, out: &str| {
        consort(
            &[
                "certs",
                "sign",
                "--ca-cert",
                "ca/ca.crt",
                "--ca-key",
                "ca/ca.key",
                "--csr",
                csr,
                "--party",
                "1",
                "--out",
                out,
            ],
            tmp.path(),
        )
    };
    let req = consort(&["certs", "request", "--party", "1", "--out", "node"], tmp.path());
    assert_eq!(req.code, Some(0), "{}", req.stderr);
    let signed = sign("node/party-1.csr", "node/party-1.crt");
    assert_eq!(signed.code, Some(0), "{}", signed.stderr);
    assert_eq!(csr_fingerprint(&signed), csr_fingerprint(&req));
    assert!(
        signed.stdout.contains("signed certificate for party-1 written to node/party-1.crt, valid 825 days (until 20"),
        "{}",
        signed.stdout
    );

    let renew =
        consort(&["certs", "renew", "--party", "1", "--key", "node/party-1.key", "--out", "renew.csr"], tmp.path());
    assert_eq!(renew.code, Some(0), "{}", renew.stderr);
    let again = sign("renew.csr", "node/party-1-new.crt");
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(csr_fingerprint(&again), csr_fingerprint(&renew));
    assert_ne!(csr_fingerprint(&renew), csr_fingerprint(&req), "a renewal is a new request");
    // The renewed certificate certifies the same key: its public key is the old one's.
    let key_of = |f: &str| {
        let pem = std::fs::read(tmp.path().join(f)).unwrap();
        let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        p.parse_x509().unwrap().public_key().raw.to_vec()
    };
    assert_eq!(key_of("node/party-1.crt"), key_of("node/party-1-new.crt"));
    let key_before = std::fs::read(tmp.path().join("node/party-1.key")).unwrap();
    let refused =
        consort(&["certs", "renew", "--party", "1", "--key", "node/party-1.key", "--out", "renew.csr"], tmp.path());
    assert_eq!(refused.code, Some(1));
    assert_eq!(refused.error_line(), "error: renew.csr: exists; refusing to overwrite it");
    assert_eq!(std::fs::read(tmp.path().join("node/party-1.key")).unwrap(), key_before, "the key was modified");
}

#[test]
fn keygen_prints_the_key_fingerprint_every_node_logs_and_a_missing_share_stops_at_once() {
    let c = Consortium::new(4);
    let keys = c.tmp.path().join("keys");
    let k = consort(
        &[
            "keygen",
            "--parties",
            "3",
            "--threshold",
            "2",
            "--insecure-test-primes",
            "--out",
            &keys.display().to_string(),
        ],
        c.tmp.path(),
    );
    assert_eq!(k.code, Some(0), "{}", k.stderr);
    let fingerprint = k.stdout.lines().find_map(|l| l.strip_prefix("public key fingerprint (SHA-256): ")).unwrap();
    let text = std::fs::read_to_string(common::repo().join("examples/jobs/fedavg-ecg-paillier.toml")).unwrap();
    let mut text = text[..text.find("[inputs]").unwrap()].to_string();
    text += "[inputs]\n";
    for i in 0..3 {
        text += &format!(
            "party-{i} = \"{}\"\n",
            common::repo().join(format!("examples/data/ecg/member-{i}.csv")).display()
        );
    }
    let job = c.tmp.path().join("fedavg.toml");
    std::fs::write(&job, &text).unwrap();
    let keys_arg = keys.display().to_string();
    // Alone, member 1 logs the fingerprint, then waits for its peers in vain.
    let mut p = [spawn_run(&c.node(1), &job, &["--keys", &keys_arg])];
    let o = wait_all(&mut p, Duration::from_secs(30)).remove(0);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let logged: Vec<&str> = o.stderr.lines().filter(|l| l.contains("compare its fingerprint with keygen's")).collect();
    assert_eq!(logged.len(), 1, "{}", o.stderr);
    assert!(logged[0].contains(&format!("fingerprint={fingerprint}")), "{}\nkeygen: {fingerprint}", logged[0]);
    assert!(logged[0].contains("threshold key of 3 members (any 2 decrypt)"), "{}", logged[0]);
    // Without its share, member 1 stops before it waits for anybody.
    let share = keys.join("party-1.share.json");
    std::fs::remove_file(&share).unwrap();
    let mut p = [spawn_run(&patient_node(&c), &job, &["--keys", &keys_arg])];
    let o = wait_all(&mut p, Duration::from_secs(20)).remove(0);
    assert_stops_at_once(&o, &format!("{}: cannot read: No such file or directory (os error 2)", share.display()));
}

#[test]
fn a_party_the_job_needs_but_the_roster_lacks_is_named_at_start() {
    let c = Consortium::new(3);
    let node = patient_node(&c);
    let example = |name: &str| {
        let t = std::fs::read_to_string(common::repo().join("examples/jobs").join(name)).unwrap();
        t.replace("\"../", &format!("\"{}/", common::repo().join("examples").display()))
    };
    // The dealer (party 3) has no roster entry in a consortium of 0..2.
    let train = c.tmp.path().join("train.toml");
    std::fs::write(&train, example("train-logreg.toml")).unwrap();
    let mut p = [spawn_run(&node, &train, &[])];
    let o = wait_all(&mut p, Duration::from_secs(20)).remove(0);
    assert_stops_at_once(
        &o,
        &format!("job spec {}: the dealer, party 3, is not in the roster of 3 parties", train.display()),
    );
    // The split-learning server (party 3), likewise.
    let split = c.tmp.path().join("split.toml");
    std::fs::write(&split, example("split-ecg-ckks.toml")).unwrap();
    let mut p = [spawn_run(&node, &split, &[])];
    let o = wait_all(&mut p, Duration::from_secs(20)).remove(0);
    assert_stops_at_once(
        &o,
        &format!("job spec {}: [split] server = 3 is not in the roster of 3 parties", split.display()),
    );
    // An input owner outside the roster (dealer 2 is in it).
    let infer = c.tmp.path().join("infer.toml");
    let text = replace_once(&example("infer-logreg.toml"), "dealer = 3", "dealer = 2");
    std::fs::write(&infer, replace_once(&text, "input_owner = 1", "input_owner = 5")).unwrap();
    let mut p = [spawn_run(&node, &infer, &[])];
    let o = wait_all(&mut p, Duration::from_secs(20)).remove(0);
    assert_stops_at_once(
        &o,
        &format!(
            "job spec {}: the job names party 5 to read an input or receive a result, but it is not in the roster; \
             the members are party 0, party 1",
            infer.display()
        ),
    );
}

#[test]
fn a_fedavg_job_of_two_members_stops_at_once_unless_min_contributors_is_2() {
    let c = Consortium::new(2);
    let text = std::fs::read_to_string(common::repo().join("examples/jobs/fedavg-ecg-additive.toml")).unwrap();
    let mut text = text[..text.find("[inputs]").unwrap()].to_string();
    text += "[inputs]\n";
    for i in 0..2 {
        text += &format!(
            "party-{i} = \"{}\"\n",
            common::repo().join(format!("examples/data/ecg/member-{i}.csv")).display()
        );
    }
    let job = c.tmp.path().join("two.toml");
    std::fs::write(&job, &text).unwrap();
    let mut p = [spawn_run(&patient_node(&c), &job, &[])];
    let o = wait_all(&mut p, Duration::from_secs(20)).remove(0);
    assert_stops_at_once(
        &o,
        &format!(
            "job spec {}: [fedavg] min_contributors = 3 but the job has 2 members; with 2 members each can compute \
             the other's local model from the average: set min_contributors = 2 in [fedavg] if the members accept that",
            job.display()
        ),
    );
    // Allowed explicitly, the member gets past its own checks and waits for its peer.
    let allowed = c.tmp.path().join("two-allowed.toml");
    std::fs::write(&allowed, replace_once(&text, "max_abs = 64.0\n", "max_abs = 64.0\nmin_contributors = 2\n"))
        .unwrap();
    let quick = c.node(1);
    let mut p = [spawn_run(&quick, &allowed, &[])];
    let o = wait_all(&mut p, Duration::from_secs(30)).remove(0);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("did not connect"), "{}", o.stderr);
}
