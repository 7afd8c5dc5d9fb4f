//! Progress on stderr for long steps (hidden automatically when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a changing message.
pub struct Spinner(ProgressBar);

impl Spinner {
    pub fn new(msg: String) -> Spinner {
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            pb.set_style(style);
        }
        pb.enable_steady_tick(Duration::from_millis(120));
        pb.set_message(msg);
        Spinner(pb)
    }

    pub fn set(&self, msg: String) {
        self.0.set_message(msg);
    }

    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A bar counting finished members.
pub fn members_bar(n: u64) -> ProgressBar {
    let pb = ProgressBar::new(n);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} members finished [{elapsed}]") {
        pb.set_style(style);
    }
    pb
}
