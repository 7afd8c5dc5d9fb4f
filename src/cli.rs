//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// consort: secure multi-party computation for consortia.
///
/// Each member runs a party node beside its own data; the nodes talk over QUIC with
/// mutual TLS and compute joint results (pooled statistics; secure training and
/// inference on shares with a dealer; federated averaging with a threshold-Paillier
/// encrypted or secret-shared sum; split learning with CKKS- or Paillier-encrypted
/// activations) without any member seeing another's records. Logs go
/// to stderr (set RUST_LOG, e.g. RUST_LOG=debug); results are JSON.
const EXAMPLES: &str = "Examples:
  consort simulate --parties 3 --job examples/jobs/stats.toml         # a whole job here
  consort simulate --parties 3 --job examples/jobs/train-logreg.toml  # on shares, + a dealer
  consort keygen --parties 3 --threshold 2 --out keys/                # threshold Paillier key
  consort simulate --parties 3 --job examples/jobs/fedavg-ecg-paillier.toml --keys keys/
  consort certs init --parties 3 --out consortium/                    # certificates + configs
  consort run --node consortium/party-0.toml --job examples/jobs/stats.toml --out result.json
  consort bench net                                                   # QUIC, stats job
  consort bench paillier                                              # Paillier, a FedAvg round
  consort simulate --parties 3 --job examples/jobs/split-ecg-ckks.toml  # split learning
  consort bench split                                                 # split learning costs
  consort compare --job examples/jobs/compare-breast-cancer.toml      # every backend, side by side
  consort backends                                                    # what each backend trusts";

#[derive(Parser, Debug)]
#[command(name = "consort", version, propagate_version = true, max_term_width = 100, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and sign member certificates (consortium CA, keys, node configs).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Run this member's part of a job (one party node).
    ///
    /// Connects to every member of the roster (any start order, within the node's
    /// connect window), checks that every member loaded the same job spec and software
    /// version, reads this member's input, runs the protocol and writes the result as
    /// JSON. Exit code 1, with the reason on stderr, on any error (2 for a usage
    /// error); a failure of any member stops every member.
    Run(RunArgs),
    /// Run a whole N-member job as N local processes over real QUIC on 127.0.0.1.
    ///
    /// An spdz job's dealer, a fedavg-paillier job's aggregator when it is not a
    /// member, and a split-he job's server when it is party N, run as one more process.
    /// Training jobs also run the plaintext twin (same seed, split and hyper-parameters)
    /// and print both accuracies. Every input file is checked before any process starts.
    /// When a member fails in a job that carries on without it (fedavg-paillier), the
    /// survivors' results are kept and the dropout is printed and listed under `dropped`.
    Simulate(SimulateArgs),
    /// Run one job under several backends and compare them side by side.
    ///
    /// Each backend runs the job as real processes over QUIC on 127.0.0.1 (as
    /// `simulate` does): the same data, model, split and seed, the backend's own knobs
    /// from its table. Prints one table — wall time, bytes and messages per member,
    /// rounds, the test metric next to the plaintext twin's, and whom the backend
    /// trusts — and writes OUT/compare.json, OUT/compare.svg and each backend's derived
    /// job (OUT/jobs/<backend>.toml, runnable alone with `simulate`). A backend that
    /// cannot run the job, or fails, says why in its row; the others still run.
    Compare(CompareArgs),
    /// List the backends: tasks and models they run, variants, and security claims.
    Backends(BackendsArgs),
    /// Deal a threshold Paillier key for federated averaging (trusted-dealer ceremony).
    ///
    /// Finds two safe primes p = 2p'+1, q = 2q'+1 (n = pq), Shamir-shares the decryption
    /// exponent so that any T of the N members decrypt together and fewer learn nothing,
    /// and writes DIR/public.json (the public key and every member's verification key:
    /// give it to every node) and DIR/party-<i>.share.json (mode 0600: give it to member
    /// i only, then delete the copies here). Whoever runs it sees every share: run it on
    /// a trusted machine. The safe-prime search takes seconds (2048 bits) to about a minute
    /// (3072 bits) in pure Rust, varying from run to run.
    Keygen(KeygenArgs),
    /// Measure performance and print a table.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Internal: one side of `consort bench net`.
    #[command(hide = true)]
    BenchPeer(BenchPeerArgs),
    /// Internal: one process of `consort bench mpc`.
    #[command(hide = true)]
    BenchMpcPeer(BenchMpcPeerArgs),
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The job spec (a `[learn]` table makes it backend-neutral; see the README).
    #[arg(long, value_name = "JOB.toml")]
    pub job: PathBuf,
    /// Backends as name[:variant], comma-separated (default: every backend and variant
    /// for the job's task): additive, spdz:semi-honest, spdz:malicious,
    /// fedavg-additive, fedavg-paillier, split-he:ckks, split-he:paillier, split-he:plain.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub backends: Vec<String>,
    /// Number of members (default: the number of [inputs] entries).
    #[arg(long, value_name = "N")]
    pub parties: Option<usize>,
    /// Threshold key directory for fedavg-paillier (default: a fresh 2048-bit key is
    /// dealt for this comparison and deleted afterwards).
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Where to write compare.json, compare.svg and the derived jobs.
    #[arg(long, value_name = "DIR", default_value = "results/compare")]
    pub out: PathBuf,
    /// Test tool: seed every member's share randomness and the dealer's MAC key from
    /// these 8 bytes (reproducible test runs; only in the tests' builds).
    #[arg(long, value_name = "S", hide = !consort_parties::TEST_TOOLS)]
    pub seed: Option<u64>,
    /// Start-up window and per-receive timeout of every member, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Forward every member's log lines (noisy with many backends).
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct BackendsArgs {
    /// Print the security table as markdown (the README embeds this output).
    #[arg(long)]
    pub markdown: bool,
}

/// Fault injection for tests.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FaultArg {
    /// Stop responding after the job agreement.
    StallAfterAgree,
    /// Corrupt this member's first opened share (spdz).
    CorruptShare,
    /// Flood every peer with messages for steps nobody reads.
    Flood,
}

/// Security mode of a bench peer.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SecurityArg {
    SemiHonest,
    Malicious,
}

/// A CKKS parameter preset, by ring dimension.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PresetArg {
    /// N = 8192, primes [60, 40, 40, 60], scale 2^40 (128-bit).
    #[value(name = "8192")]
    N8192,
    /// N = 16384 (128-bit).
    #[value(name = "16384")]
    N16384,
}

/// Encryption at the cut, for `bench split`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SchemeArg {
    Plain,
    Ckks,
    Paillier,
}

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Make a whole consortium in one directory: CA, and per member a key (0600), a
    /// certificate and a node config. For tests and for a CA operator who hands out
    /// files; in a real consortium prefer `request` + `sign` so keys never travel.
    Init {
        /// Number of members.
        #[arg(long, value_name = "N")]
        parties: u16,
        /// Output directory (created; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Member address: give it once (every member on that host, ports base-port+i)
        /// or once per member in party order, as HOST or HOST:PORT.
        #[arg(long = "host", value_name = "ADDR", default_value = "127.0.0.1")]
        hosts: Vec<String>,
        /// First UDP port when an address has no port.
        #[arg(long, default_value_t = 7100)]
        base_port: u16,
    },
    /// CA side, for a consortium whose members make their own keys: the CA certificate
    /// (ca.crt, valid 3650 days; give it to every member) and its key (ca.key, 0600;
    /// keep it offline).
    Ca {
        /// Output directory (created; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Member side: make a private key (0600, never leaves this machine) and a
    /// certificate signing request (CSR) for `party-<ID>`; send the CSR to the CA.
    /// Prints the CSR's fingerprint: read it to the CA, who compares it at `sign`.
    Request {
        /// This member's party id.
        #[arg(long, value_name = "ID")]
        party: u16,
        /// Directory for party-<ID>.key and party-<ID>.csr.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// CA side: sign a member's CSR after checking it asks for exactly `party-<ID>`.
    /// Prints the CSR's fingerprint (compare it with the member's before sending the
    /// certificate back) and the certificate's expiry (825 days).
    Sign {
        /// The consortium CA certificate (ca.crt).
        #[arg(long, value_name = "FILE")]
        ca_cert: PathBuf,
        /// The consortium CA private key (ca.key).
        #[arg(long, value_name = "FILE")]
        ca_key: PathBuf,
        /// The member's CSR.
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// The party id the CSR must name.
        #[arg(long, value_name = "ID")]
        party: u16,
        /// Where to write the signed certificate (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a certificate's subject, party names, expiry and SHA-256 fingerprint (the
    /// value a node config's `revoked_certs` takes).
    Show {
        /// A PEM certificate.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
    },
    /// Member side, before its certificate expires (a node warns 30 days ahead): a new
    /// CSR for `party-<ID>` from the member's existing key. The CA signs it with `sign`;
    /// the member then replaces its certificate file with the new one.
    Renew {
        /// This member's party id.
        #[arg(long, value_name = "ID")]
        party: u16,
        /// The member's existing private key (party-<ID>.key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the new CSR (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Network emulation options.
#[derive(Args, Debug, Clone, Default)]
pub struct LinkArgs {
    /// Add this one-way latency (milliseconds) to every message.
    #[arg(long, value_name = "MS")]
    pub latency: Option<f64>,
    /// Limit every link to this rate (megabits per second).
    #[arg(long, value_name = "MBIT")]
    pub bandwidth: Option<f64>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// This member's node config (written by `consort certs init`, or by hand).
    #[arg(long, value_name = "NODE.toml")]
    pub node: PathBuf,
    /// The job spec; every member must load the same one (only [inputs] may differ).
    #[arg(long, value_name = "JOB.toml")]
    pub job: PathBuf,
    /// Write the result here as JSON (default: print it on stdout).
    #[arg(long, value_name = "RESULT.json")]
    pub out: Option<PathBuf>,
    /// This member's input CSV (default: the job's [inputs] entry for this party).
    #[arg(long, value_name = "CSV")]
    pub input: Option<PathBuf>,
    /// Test tool: seed every member's share randomness and the dealer's MAC key from
    /// these 8 bytes (reproducible test runs; only in the tests' builds).
    #[arg(long, value_name = "S", hide = !consort_parties::TEST_TOOLS)]
    pub seed: Option<u64>,
    /// Key directory of a fedavg-paillier job (public.json, and this member's
    /// party-<i>.share.json), made by `consort keygen`.
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    #[command(flatten)]
    pub link: LinkArgs,
    /// Fault injection for tests.
    #[arg(long, hide = true, value_name = "FAULT")]
    pub fault: Option<FaultArg>,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Number of members (each one a separate process).
    #[arg(long, value_name = "N")]
    pub parties: usize,
    /// The job spec; its [inputs] must name a file for party-0 .. party-(N-1).
    #[arg(long, value_name = "JOB.toml")]
    pub job: PathBuf,
    /// Test tool: seed every member's share randomness and the dealer's MAC key from
    /// these 8 bytes (reproducible test runs; only in the tests' builds).
    #[arg(long, value_name = "S", hide = !consort_parties::TEST_TOOLS)]
    pub seed: Option<u64>,
    /// Key directory of a fedavg-paillier job (made by `consort keygen --parties N`).
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Also keep every member's own result file here as party-<i>.json (created if
    /// missing): e.g. the parts of a split model, for a later `task = "infer"` job.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    #[command(flatten)]
    pub link: LinkArgs,
    /// Write the combined report here as JSON.
    #[arg(long, value_name = "RESULT.json")]
    pub out: Option<PathBuf>,
    /// Start-up window and per-receive timeout of every member, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Do not forward the members' logs.
    #[arg(long)]
    pub quiet: bool,
    /// Tests only: kill this party (a real dropout) ...
    #[arg(long, hide = true, value_name = "P", requires = "kill_on_log")]
    pub kill_party: Option<usize>,
    /// ... once its log shows this text.
    #[arg(long, hide = true, value_name = "TEXT", requires = "kill_party")]
    pub kill_on_log: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// QUIC throughput and latency between two local processes, and the stats job for
    /// 3 members.
    Net(BenchNetArgs),
    /// The SPDZ engine over QUIC between local processes (members plus a dealer): 10^6
    /// elementwise products (preprocessing, online, MAC check) for 2 and 3 members in
    /// both security modes, a 100x100 matrix product, sigmoid on 10^5 values, logistic
    /// regression on breast cancer; and the polynomial approximation error table.
    Mpc(BenchMpcArgs),
    /// RNS-CKKS (N = 8192 with primes [60, 40, 40, 60] and scale 2^40, and N = 16384):
    /// key generation, encrypt, decrypt, multiply, rotate, encrypted vector × plaintext
    /// matrix products, sizes; one thread and all threads, with SEAL reference figures.
    Ckks(BenchCkksArgs),
    /// Paillier and threshold Paillier, one core: key ceremony, encryptions/s (fresh
    /// randomness and precomputed r^n), decryptions/s, partial decryptions/s, proof
    /// verifications/s, combinations/s at 2048 and 3072 bits; then one federated round
    /// (encrypt / aggregate / decrypt) of a 400,000-parameter model with 3 members.
    Paillier(BenchPaillierArgs),
    /// Split learning with encrypted activations: one epoch per dataset (ECG beats of
    /// record 208, 8×8 digits) and scheme (plaintext, CKKS, Paillier), 3 clients and a
    /// server in this process: seconds and bytes per epoch, the ratio to plaintext, and
    /// held-out accuracy next to plaintext split learning with the same seed.
    Split(BenchSplitArgs),
}

#[derive(Args, Debug)]
pub struct BenchSplitArgs {
    /// Folder with `ecg/member-{0,1,2}.csv` and `digits/client-{0,1,2}.csv`.
    #[arg(long, default_value = "examples/data")]
    pub data: PathBuf,
    /// Datasets: ecg, digits.
    #[arg(long, value_delimiter = ',', default_value = "ecg,digits")]
    pub datasets: Vec<String>,
    /// Schemes to measure.
    #[arg(long, value_delimiter = ',', default_value = "plain,ckks,paillier")]
    pub schemes: Vec<SchemeArg>,
    /// Epochs to train (figures are per epoch).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Also write the rows here as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Number of members holding a key share (parties 0..N-1).
    #[arg(long, value_name = "N")]
    pub parties: u32,
    /// Members needed to decrypt (any T of N); fewer learn nothing. At least 2 unless
    /// --allow-threshold-1.
    #[arg(long, value_name = "T")]
    pub threshold: u32,
    /// Accept --threshold 1: any one member then decrypts alone.
    #[arg(long)]
    pub allow_threshold_1: bool,
    /// Output directory (created; an existing key set is never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Modulus size: 2048 (112-bit security) or 3072 (128-bit).
    #[arg(long, default_value_t = 2048)]
    pub bits: u32,
    /// Use the committed TEST-ONLY 2048-bit primes (public: never for real data).
    #[arg(long, hide = true)]
    pub insecure_test_primes: bool,
}

#[derive(Args, Debug)]
pub struct BenchPaillierArgs {
    /// Modulus sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "2048,3072")]
    pub bits: Vec<u32>,
    /// Parameters of the federated round's model.
    #[arg(long, default_value_t = 400_000)]
    pub params: usize,
    /// Time the safe-prime search of the key ceremony (seconds to a minute). A release
    /// build always searches (it carries no test primes); the tests' builds otherwise deal
    /// the committed TEST-ONLY primes and time only the dealing.
    #[arg(long)]
    pub prime_search: bool,
}

#[derive(Args, Debug)]
pub struct BenchCkksArgs {
    /// Ring dimensions (CKKS presets) to measure.
    #[arg(long, value_delimiter = ',', default_value = "8192,16384")]
    pub n: Vec<PresetArg>,
}

#[derive(Args, Debug)]
pub struct BenchMpcArgs {
    /// Folder with the breast cancer member files (member-0.csv .. member-2.csv).
    #[arg(long, default_value = "examples/data/breast_cancer")]
    pub data: PathBuf,
    /// Also write the figures here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchMpcPeerArgs {
    #[arg(long)]
    pub node: PathBuf,
    #[arg(long, value_enum)]
    pub security: SecurityArg,
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchNetArgs {
    /// Message sizes in MB (10^6 bytes).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
    pub sizes: Vec<u64>,
    /// Small-message round trips to time.
    #[arg(long, default_value_t = 1000)]
    pub pings: u32,
    /// Rows per member of the stats job (3 members).
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Also write the figures here as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchPeerArgs {
    #[arg(long)]
    pub node: PathBuf,
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<u64>,
    #[arg(long)]
    pub pings: u32,
    #[arg(long)]
    pub out: Option<PathBuf>,
}
